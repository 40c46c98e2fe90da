import ArgumentParser
import Foundation
import JigsyncCore

/// `--ledger`: where the ledger is.
struct LedgerOption: ParsableArguments {
    @Option(help: "The ledger file (default: the configuration's `ledger`, else $STATE_DIRECTORY/ledger.db under systemd, else $XDG_STATE_HOME/jigsync/ledger.db).")
    var ledger: String?

    var path: String { ledger.map(absolute) ?? Ledger.defaultPath() }
}

/// What `sync` and `run` share: the configuration file, folders, ledger, workers and limits.
/// A flag overrides the file; with no file the flags alone are enough.
struct SyncOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The YAML configuration (default: \(ConfigurationLoader.defaultPath) when no --folder is given and it exists).",
                               valueName: "FILE"))
    var config: String?

    @Option(name: .customLong("folder"), help: ArgumentHelp(
        "A folder to sync, with an optional key prefix after a colon (photos:backup/photos). Repeatable; replaces the configuration's folders.",
        valueName: "DIR[:PREFIX]"))
    var folders: [String] = []

    @OptionGroup var ledger: LedgerOption

    @Option(help: "Concurrent uploads (default 4; one more, for small files only, while files over 8 MiB hold more than half).") var workers: Int?

    @Option(help: "Largest file uploaded, in bytes; larger files are failed with the reason (default and API limit: 100 MiB).")
    var maxSize: Int64?

    @Option(help: ArgumentHelp("Leave out files matching this glob (on the name, or the relative path if it has a /). Repeatable; adds to the default editor and download temp patterns.", valueName: "GLOB"))
    var exclude: [String] = []

    @Option(help: ArgumentHelp("Sync only files matching this glob. Repeatable.", valueName: "GLOB"))
    var include: [String] = []

    @Option(help: ArgumentHelp("Store files matching GLOB with this content type (default: by extension from /etc/mime.types). Repeatable.",
                               valueName: "GLOB=TYPE"))
    var contentTypeFor: [String] = []

    @Option(help: "When a key is already stored: overwrite (default) or skip the file.")
    var onConflict: String?

    @Option(help: "Client-side limit of requests per second (default 50, the API's limit per project; instances share it).")
    var rateLimit: Double?

    @Option(help: "Keep the last N stored versions of each file under PREFIX.versions/PATH/TIMESTAMP-SHA8 (default: each folder's `versions`, else 0, none). Needs a prefix.")
    var versions: Int?

    @Flag(help: "Forget the damage guard's holds left by an earlier run: the changes they held are sent.")
    var trustChanges = false

    @Option(help: "Damage guard: more than this many stored files of a folder changing within the window stop overwriting there (default 200).")
    var guardMaxOverwrites: Int?

    @Option(help: "Damage guard: more than this percentage of a folder's stored files changing within the window stops overwriting there (default 25).")
    var guardMaxPercent: Double?

    @Option(help: "Damage guard: the window changes are counted in (default 60s).")
    var guardWindow: String?

    @Flag(help: "Damage guard off: every change overwrites its stored copy at once.")
    var noGuard = false

    func validate() throws {
        if let versions, !(0...1000).contains(versions) { throw ValidationError("--versions must be between 0 and 1000") }
        if let guardMaxOverwrites, guardMaxOverwrites < 1 { throw ValidationError("--guard-max-overwrites must be at least 1 (or --no-guard)") }
        if let guardMaxPercent, !(guardMaxPercent > 0 && guardMaxPercent <= 100) { throw ValidationError("--guard-max-percent must be above 0 and at most 100") }
        if let guardWindow, DurationParser.parse(guardWindow).map({ $0 > .zero }) != true {
            throw ValidationError("--guard-window: not a positive duration: \(guardWindow)")
        }
        if let workers, !(1...64).contains(workers) { throw ValidationError("--workers must be between 1 and 64") }
        if let maxSize, maxSize <= 0 { throw ValidationError("--max-size must be positive") }
        if let onConflict, SyncEngine.ConflictPolicy(rawValue: onConflict) == nil {
            throw ValidationError("--on-conflict must be overwrite or skip")
        }
        if let rateLimit, rateLimit <= 0 { throw ValidationError("--rate-limit must be positive") }
        for rule in contentTypeFor where !rule.contains("=") || rule.hasPrefix("=") || rule.hasSuffix("=") {
            throw ValidationError("--content-type-for \(rule): expected GLOB=TYPE, such as '*.md=text/markdown'")
        }
        let file = try configuration()
        guard !folders.isEmpty || !(file?.folders ?? []).isEmpty else {
            throw ValidationError("name at least one --folder DIR[:PREFIX], or folders in a --config file")
        }
        _ = try folderSpecs(from: file)
    }

    /// The configuration file, if one applies: `--config`, else the default path when no
    /// `--folder` is given and it exists.
    func configuration() throws -> JigsyncConfiguration? {
        let path = config ?? (folders.isEmpty && FileManager.default.fileExists(atPath: ConfigurationLoader.defaultPath) ? ConfigurationLoader.defaultPath : nil)
        guard let path else { return nil }
        do {
            return try ConfigurationLoader.load(path)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The ledger: `--ledger`, else the configuration's, else the default.
    func ledgerPath(from file: JigsyncConfiguration?) -> String {
        if ledger.ledger == nil, let configured = file?.ledger { return absolute(configured) }
        return ledger.path
    }

    /// The folders, resolved to absolute real paths: from `--folder` if given, else the configuration.
    func folderSpecs(from file: JigsyncConfiguration?) throws -> [FolderSpec] {
        if folders.isEmpty, let entries = file?.folders {
            return try entries.map { entry in
                let filter = PathFilter(includes: (entry.include ?? []) + include,
                                        excludes: PathFilter.defaultExcludes + (entry.exclude ?? []) + exclude)
                let path = FileManager.default.fileExists(atPath: entry.path) ? try realDirectory(entry.path) : entry.path
                var spec = FolderSpec(path: path, prefix: entry.prefix ?? "", filter: filter)
                spec.deletesRemote = entry.on_delete.map { $0 == "delete" }
                spec.optional = entry.optional ?? false
                spec.versions = versions ?? entry.versions ?? 0
                spec.onUpload = entry.on_upload
                return spec
            }
        }
        let filter = PathFilter(includes: include, excludes: PathFilter.defaultExcludes + exclude)
        var specs: [FolderSpec] = []
        for argument in folders {
            let (directory, prefix) = argument.firstIndex(of: ":").map {
                (String(argument[..<$0]), String(argument[argument.index(after: $0)...]))
            } ?? (argument, "")
            var spec = FolderSpec(path: try realDirectory(directory), prefix: prefix, filter: filter)
            spec.versions = versions ?? 0
            if spec.versions > 0 && spec.prefix.isEmpty {
                throw ValidationError("--versions needs every --folder to have a prefix (DIR:PREFIX): with an empty prefix the versions could collide with a file's key")
            }
            if let other = specs.first(where: { $0.path == spec.path || $0.path.hasPrefix(spec.path + "/") || spec.path.hasPrefix($0.path + "/") }) {
                throw ValidationError("folders \(other.path) and \(spec.path) overlap")
            }
            specs.append(spec)
        }
        return specs
    }

    private func realDirectory(_ directory: String) throws -> String {
        guard let real = realpath(directory, nil) else {
            throw ValidationError("folder \(directory): \(String(cString: strerror(errno)))")
        }
        defer { free(real) }
        let path = String(cString: real)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("folder \(directory) is not a directory")
        }
        return path
    }

    func engineSettings(from file: JigsyncConfiguration?) -> SyncEngine.Settings {
        let upload = file?.upload
        var settings = SyncEngine.Settings()
        settings.workers = workers ?? upload?.workers ?? settings.workers
        settings.maxSize = maxSize ?? upload?.max_size ?? settings.maxSize
        settings.onConflict = (onConflict ?? upload?.on_conflict).flatMap(SyncEngine.ConflictPolicy.init(rawValue:)) ?? .overwrite
        settings.requestsPerSecond = rateLimit ?? upload?.rate_limit ?? settings.requestsPerSecond
        let configured = file?.guard
        settings.damageGuard.enabled = !noGuard && (configured?.enabled ?? true)
        settings.damageGuard.maxOverwrites = guardMaxOverwrites ?? configured?.max_overwrites ?? settings.damageGuard.maxOverwrites
        settings.damageGuard.maxPercent = guardMaxPercent ?? configured?.max_percent ?? settings.damageGuard.maxPercent
        if let window = (guardWindow ?? configured?.window).flatMap(DurationParser.parse) { settings.damageGuard.window = window }
        settings.damageGuard.trustChanges = trustChanges
        settings.contentTypeOverrides = contentTypeFor.compactMap { rule in
            rule.firstIndex(of: "=").map { (String(rule[..<$0]), String(rule[rule.index(after: $0)...])) }
        }
        return settings
    }
}

/// An absolute path for `path` relative to the working directory, without resolving a final symlink.
func absolute(_ path: String) -> String {
    let joined = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return (joined as NSString).standardizingPath
}
