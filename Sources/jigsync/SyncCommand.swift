import ArgumentParser
import Foundation
import JigsyncCore
import Logging

/// `jigsync sync`: reconcile once, upload everything due, exit.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Reconcile the folders with the ledger, upload everything due, and exit.",
        discussion: """
            Exit status: 0 every file is uploaded; 1 some files failed, or were still due after --retry-for
            (they stay pending); 2 a usage or configuration error; 3 the service rejected the API key or endpoint.
            """
    )

    @OptionGroup var sync: SyncOptions
    @OptionGroup var store: StoreOptions

    @Option(help: "How long to keep retrying passing failures (90s, 2m, 1h).")
    var retryFor = "2m"

    @Option(help: "Log level: trace, debug, info, notice, warning (default), error, critical.")
    var logLevel: String?

    func validate() throws {
        guard DurationParser.parse(retryFor) != nil else { throw ValidationError("--retry-for: not a duration: \(retryFor)") }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil { throw ValidationError("--log-level: unknown level \(logLevel)") }
    }

    func run() async throws {
        let file = try sync.configuration()
        let logger = makeLogger(level: logLevel ?? file?.log?.level ?? "warning")
        let specs = try sync.folderSpecs(from: file)
        let ledger: Ledger
        do {
            ledger = try Ledger(path: sync.ledgerPath(from: file))
        } catch {
            FileHandle.standardError.write(Data("jigsync: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if ledger.recoveredCount > 0 {
            logger.notice("\(ledger.recoveredCount) uploads interrupted by an earlier stop are due again")
        }
        let client = FileStoreClient(configuration: store.storeConfiguration(file: file))
        let engine = SyncEngine(client: client, ledger: ledger, settings: sync.engineSettings(from: file), logger: logger)
        let bar: ProgressBar? = isatty(STDERR_FILENO) == 1 ? ProgressBar() : nil
        var progress: (@Sendable (SyncEngine.Progress) -> Void)?
        if let bar { progress = { bar.show($0) } }
        let report = try await engine.syncOnce(specs, retryFor: DurationParser.parse(retryFor)!, progress: progress)
        bar?.finish()
        print(Self.summary(report))
        // Names may hold newlines or tabs: escaped, each report stays one line.
        for failure in report.failed { print("failed: \(failure.path.escapedForDisplay): \(failure.reason.escapedForDisplay)") }
        for due in report.stillDue { print("still due: \(due.path.escapedForDisplay): \(due.reason.escapedForDisplay)") }
        for problem in report.problems { print("problem: \(problem.escapedForDisplay)") }
        if let rejected = report.rejected {
            FileHandle.standardError.write(Data("jigsync: \(rejected)\n".utf8))
            throw ExitCode(3)
        }
        if !report.failed.isEmpty || !report.stillDue.isEmpty { throw ExitCode(1) }
    }

    static func summary(_ r: SyncEngine.Report) -> String {
        "examined \(r.examined) files: \(r.uploaded) uploaded (\(r.bytesSent) bytes), \(r.unchanged) unchanged, "
            + "\(r.hashed) hashed, \(r.failed.count) failed, \(r.stillDue.count) still due"
    }
}

/// A one-line progress display on a terminal: files, bytes, rate and time left.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()   // guards lastDraw
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private let started = ContinuousClock.now

    func show(_ p: SyncEngine.Progress) {
        let now = ContinuousClock.now
        guard lock.withLock({ () -> Bool in
            guard now - lastDraw >= .milliseconds(100) || p.filesDone == p.filesTotal else { return false }
            lastDraw = now
            return true
        }) else { return }
        let elapsed = max(0.001, Double((now - started).components.seconds) + Double((now - started).components.attoseconds) / 1e18)
        let rate = Double(p.bytesDone) / elapsed
        let left = rate > 0 ? Double(p.bytesTotal - p.bytesDone) / rate : 0
        let line = String(format: "\r%d/%d files  %.1f/%.1f MB  %.1f MB/s  ETA %.0f s ",
                          p.filesDone, p.filesTotal, Double(p.bytesDone) / 1e6, Double(p.bytesTotal) / 1e6, rate / 1e6, left)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }
}

func makeLogger(level: String) -> Logger {
    var logger = Logger(label: "jigsync") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = Logger.Level(rawValue: level) ?? .warning
    return logger
}
