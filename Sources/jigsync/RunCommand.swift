import ArgumentParser
import Foundation
import JigsyncCore
import Logging
import ServiceLifecycle

/// `jigsync run`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Watch the folders and upload what lands in them, until SIGTERM or SIGINT.",
        discussion: """
            Watches every directory with inotify before the first reconcile, so nothing slips between them. On SIGTERM \
            or SIGINT no new uploads start, those in flight get --grace to finish, and it exits 0. Under systemd \
            (Type=notify) it sends READY=1, STATUS=, WATCHDOG=1 (when WatchdogSec= is set) and STOPPING=1. Exit status: \
            2 a usage or configuration error (a missing folder, no API key, a ledger in use); 1 a failure while running.
            """
    )

    @OptionGroup var sync: SyncOptions
    @OptionGroup var store: StoreOptions

    @Option(help: "What deleting a file from a folder does to its remote copy: keep or delete.")
    var onDelete = DaemonSettings.DeletePolicy.keep.rawValue
    @Option(help: "Refuse remote deletes past this many within a minute (a mass delete looks like a vanished disk).")
    var deleteLimit = 100
    @Option(help: "Settle time after a file's last write-complete event before it is looked at, in ms.")
    var settleMs = 20
    @Option(help: "A file written without being closed is taken after this long without writes (or 30 s after the first such write, if the writes never stop).")
    var quiet = "2s"
    @Option(help: "Interval of the periodic backstop rescan (jittered).")
    var backstop = "1h"
    @Option(help: "Rescan interval for a folder inotify cannot fully see: the watch limit reached, or a network or FUSE file system.")
    var fallbackRescan = "60s"
    @Option(help: "On SIGTERM, how long in-flight uploads may take to finish.")
    var grace = "10s"
    @Option(help: ArgumentHelp("A program run after each file of the --folder folders is stored (and after its remote delete with --on-delete delete), in the folder, with the file in JIGSYNC_* variables. Split at spaces into its arguments; no shell.",
                               valueName: "CMD"))
    var onUpload: String?
    @Option(help: ArgumentHelp("Serve Prometheus metrics at http://ADDR:PORT/metrics (IPv4; port 0 picks one, logged). Off by default.",
                               valueName: "ADDR:PORT"))
    var metricsListen: String?
    @Option(help: "Log level: trace, debug, info (default), notice, warning, error, critical.")
    var logLevel: String?
    @Flag(help: "Reconcile once and print what would be uploaded, overwritten, deleted remotely (with --on-delete) and skipped, then exit: nothing is sent and the ledger is only read.")
    var dryRun = false

    func validate() throws {
        guard DaemonSettings.DeletePolicy(rawValue: onDelete) != nil else { throw ValidationError("--on-delete must be keep or delete") }
        guard deleteLimit >= 0 else { throw ValidationError("--delete-limit must not be negative") }
        guard settleMs >= 0 else { throw ValidationError("--settle-ms must not be negative") }
        for (name, value) in [("--quiet", quiet), ("--backstop", backstop), ("--fallback-rescan", fallbackRescan), ("--grace", grace)] where DurationParser.parse(value) == nil {
            throw ValidationError("\(name): not a duration: \(value)")
        }
        if let onUpload {
            guard !sync.folders.isEmpty else { throw ValidationError("--on-upload goes with --folder; in a configuration file write on_upload: [...] in the folder's entry") }
            guard !onUpload.split(separator: " ").isEmpty else { throw ValidationError("--on-upload needs a program") }
        }
        if let metricsListen, MetricsServer.parse(metricsListen) == nil {
            throw ValidationError("--metrics-listen: \(metricsListen) is not IPV4:PORT (such as 127.0.0.1:9464)")
        }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil { throw ValidationError("--log-level: unknown level \(logLevel)") }
    }

    func run() async throws {
        if dryRun { return try await DryRunOutput.run(sync, deleteByDefault: onDelete == DaemonSettings.DeletePolicy.delete.rawValue) }
        JigsyncCommand.ignoreBrokenPipes()
        let file = try sync.configuration()
        let storeConfiguration = store.storeConfiguration(file: file)
        try requireAPIKey(storeConfiguration)
        var logger = Logger(label: "jigsync") { JournalLogHandler(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel ?? file?.log?.level ?? "info") ?? .info
        var specs = try sync.folderSpecs(from: file)
        if let onUpload {
            let argv = onUpload.split(separator: " ").map(String.init)
            for index in specs.indices { specs[index].onUpload = argv }
        }
        let ledger: Ledger
        do {
            ledger = try Ledger(path: sync.ledgerPath(from: file))
        } catch {
            logger.critical("\(error)")
            throw ExitCode(JigsyncCommand.usageErrorStatus)
        }
        if ledger.recoveredCount > 0 {
            logger.notice("\(ledger.recoveredCount) uploads interrupted by an earlier stop are due again")
        }
        var settings = DaemonSettings(folders: specs)
        var engine = sync.engineSettings(from: file)
        engine.pauseWhenRejected = true
        settings.engine = engine
        settings.onDelete = DaemonSettings.DeletePolicy(rawValue: onDelete) ?? .keep
        settings.deleteLimit = deleteLimit
        settings.settle = .milliseconds(settleMs)
        settings.quiet = DurationParser.parse(quiet)!
        settings.backstopInterval = DurationParser.parse(backstop)!
        settings.fallbackRescanInterval = DurationParser.parse(fallbackRescan)!
        settings.grace = DurationParser.parse(grace)!
        settings.actions = file?.actionSettings ?? ActionSettings()
        settings.metricsListen = metricsListen ?? file?.metrics?.listen
        settings.actionService = ActionService(apiKey: storeConfiguration.apiKey, baseURL: storeConfiguration.baseURL,
                                               publicKey: storeConfiguration.publicKey)
        settings.controlSocket = ControlServer.defaultPath(ledger: sync.ledgerPath(from: file))
        if sync.folders.isEmpty, file != nil {
            // A reload reads the file again, by design.
            let options = sync
            settings.reloadFolders = { try options.folderSpecs(from: options.configuration()) }
        }
        let client = FileStoreClient(configuration: storeConfiguration)
        let daemon = Daemon(settings: settings, ledger: ledger, client: client, logger: logger)
        var groupLogger = logger
        groupLogger.logLevel = .warning   // the service group's own lifecycle chatter
        // No signals for the service group (its UnixSignals are Dispatch signal sources, whose
        // handlers run on libdispatch's queues and arm its 1 s worker-pool monitor): the relay's
        // thread turns SIGTERM and SIGINT into the group's graceful shutdown, and SIGHUP into a
        // reload, which re-reads the configuration file like `jigsync reload`.
        let group = ServiceGroup(configuration: .init(services: [daemon], logger: groupLogger))
        do {
            _ = try SignalRelay([SIGTERM, SIGINT, SIGHUP]) { signal in
                if signal == SIGHUP {
                    daemon.requestReload()
                } else {
                    Task { await group.triggerGracefulShutdown() }
                }
            }
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
        do {
            try await group.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}
