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
            Exit status: 0 every file is uploaded; 1 some files failed, or kept failing for a passing reason for longer than \
            --retry-for, or the service did not answer for that long (they stay pending); 2 a usage or configuration error (a missing folder, no API key, a ledger in use); \
            3 the service rejected the API key or the endpoint.
            """
    )

    @OptionGroup var sync: SyncOptions
    @OptionGroup var store: StoreOptions

    @Option(help: "How long to keep retrying a file that fails for a passing reason, counted from its first failure, such as 90s, 2m or 1h (default: the configuration's upload.retry_for, else 2m); the run itself goes on while it makes progress.")
    var retryFor: String?

    @Option(help: "Log level: trace, debug, info, notice, warning (default), error, critical.")
    var logLevel: String?

    @Flag(help: "Print what would be uploaded, overwritten, deleted remotely and skipped (and why), then exit: nothing is sent and the ledger is only read.")
    var dryRun = false

    /// How long passing failures are retried when neither the flag nor the file says.
    static let defaultRetryFor = "2m"

    func validate() throws {
        if let retryFor, DurationParser.parse(retryFor) == nil { throw ValidationError("--retry-for: not a duration: \(retryFor)") }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil { throw ValidationError("--log-level: unknown level \(logLevel)") }
    }

    func run() async throws {
        if dryRun { return try await DryRunOutput.run(sync, deleteByDefault: false) }
        JigsyncCommand.ignoreBrokenPipes()
        let file = try sync.configuration()
        let storeConfiguration = store.storeConfiguration(file: file)
        try requireAPIKey(storeConfiguration)
        let logger = makeLogger(level: logLevel ?? file?.log?.level)
        let specs = try sync.folderSpecs(from: file)
        let ledger: Ledger
        do {
            ledger = try Ledger(path: sync.ledgerPath(from: file))
        } catch {
            StandardError.write("jigsync: \(error)\n")
            throw ExitCode(2)
        }
        if ledger.recoveredCount > 0 {
            logger.notice("\(ledger.recoveredCount) uploads interrupted by an earlier stop are due again")
        }
        let client = FileStoreClient(configuration: storeConfiguration)
        let engine = SyncEngine(client: client, ledger: ledger, settings: sync.engineSettings(from: file), logger: logger)
        let bar: ProgressBar? = isatty(STDERR_FILENO) == 1 ? ProgressBar() : nil
        var progress: (@Sendable (SyncEngine.Progress) -> Void)?
        if let bar { progress = { bar.show($0) } }
        let report = try await engine.syncOnce(specs, retryFor: DurationParser.parse(retryFor ?? file?.upload?.retry_for ?? Self.defaultRetryFor)!, progress: progress)
        bar?.finish()
        print(Self.summary(report))
        // Names may hold newlines or tabs: escaped, each report stays one line.
        Self.printAtMost(Self.listedLines, report.failed.map { "failed: \($0.path.escapedForDisplay): \($0.reason.escapedForDisplay)" }, more: "jigsync status --state failed")
        Self.printAtMost(Self.listedLines, report.stillDue.map { "still due: \($0.path.escapedForDisplay): \($0.reason.escapedForDisplay)" }, more: "jigsync status --state pending")
        for hold in report.holds { print("held: \(hold.escapedForDisplay) (or run again with --trust-changes)") }
        Self.printAtMost(Self.listedLines, report.held.map { "overwrite held: \($0.escapedForDisplay)" }, more: "jigsync status --state pending")
        Self.printAtMost(Self.listedLines, report.problems.map { "problem: \($0.escapedForDisplay)" }, more: "the log at --log-level warning")
        if let rejected = report.rejected {
            StandardError.write("jigsync: \(rejected)\n")
            throw ExitCode(3)
        }
        if let unreachable = report.unreachable {
            StandardError.write("jigsync: \(unreachable); the files not uploaded stay due: run again once it answers\n")
        }
        if !report.failed.isEmpty || !report.stillDue.isEmpty || !report.held.isEmpty { throw ExitCode(1) }
    }

    /// Lines listed per kind (failed, still due, problems) before the rest are counted: a run of
    /// thousands of files must not print thousands of lines; the ledger holds them all.
    static let listedLines = 20

    static func printAtMost(_ limit: Int, _ lines: [String], more place: String) {
        for line in lines.prefix(limit) { print(line) }
        if lines.count > limit { print("… and \(lines.count - limit) more (\(place))") }
    }

    static func summary(_ r: SyncEngine.Report) -> String {
        "examined \(r.examined) files: \(r.uploaded) uploaded (\(r.bytesSent) bytes), \(r.unchanged) unchanged, "
            + "\(r.hashed) hashed, \(r.failed.count) failed, \(r.stillDue.count) still due"
    }
}

/// A one-line progress display on a terminal: files, bytes, rate and time left.
final class ProgressBar: @unchecked Sendable {   // `lastDraw` is guarded by `lock`; the rest is immutable
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
        StandardError.write(line)
    }

    func finish() { StandardError.write("\n") }
}

/// A logger on standard error. Without a level chosen, `sync` shows warnings and the first
/// passing failure (logged at info, with its retry): a dead endpoint shows within seconds instead
/// of after --retry-for of silence, and one line stands for the rest.
func makeLogger(level: String?) -> Logger {
    guard let level else {
        var logger = Logger(label: "jigsync") { FirstNoticeLogHandler(JournalLogHandler(label: $0)) }
        logger.logLevel = .info   // the handler lets only the first info line through
        return logger
    }
    var logger = Logger(label: "jigsync") { JournalLogHandler(label: $0) }   // the format `run` logs in
    logger.logLevel = Logger.Level(rawValue: level) ?? .warning
    return logger
}

/// Passes warnings and worse, and only the first info message (then a hint where the rest are).
struct FirstNoticeLogHandler: LogHandler {
    private var inner: any LogHandler
    private let shown = FirstOnly()

    init(_ inner: any LogHandler) { self.inner = inner }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }
    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        if event.level >= .warning {
            inner.log(event: event)
        } else if event.level == .info, shown.claim() {
            var first = event
            first.message = "\(event.message) (further retries: --log-level info)"
            inner.log(event: first)
        }
    }

    /// True once, for the first caller.
    final class FirstOnly: @unchecked Sendable {   // its one field is guarded by `lock`
        private let lock = NSLock()   // guards taken
        private var taken = false
        func claim() -> Bool { lock.withLock { defer { taken = true }; return !taken } }
    }
}
