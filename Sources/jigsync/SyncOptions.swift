import ArgumentParser
import Foundation
import JigsyncCore

/// `--ledger`: where the ledger is.
struct LedgerOption: ParsableArguments {
    @Option(help: "The ledger file (default: $STATE_DIRECTORY/ledger.db under systemd, else $XDG_STATE_HOME/jigsync/ledger.db).")
    var ledger: String?

    var path: String { ledger.map(absolute) ?? Ledger.defaultPath() }
}

/// What `sync` (and later `run`) shares: folders, ledger, workers and limits.
struct SyncOptions: ParsableArguments {
    @Option(name: .customLong("folder"), help: ArgumentHelp(
        "A folder to sync, with an optional key prefix after a colon (photos:backup/photos). Repeatable.",
        valueName: "DIR[:PREFIX]"))
    var folders: [String] = []

    @OptionGroup var ledger: LedgerOption

    @Option(help: "Concurrent uploads.") var workers = 4

    @Option(help: "Largest file uploaded, in bytes; larger files are failed with the reason (API limit: 100 MB).")
    var maxSize: Int64 = 100 * 1024 * 1024

    @Option(help: ArgumentHelp("Leave out files matching this glob (on the name, or the relative path if it has a /). Repeatable; adds to the default editor and download temp patterns.", valueName: "GLOB"))
    var exclude: [String] = []

    @Option(help: ArgumentHelp("Sync only files matching this glob. Repeatable.", valueName: "GLOB"))
    var include: [String] = []

    @Option(help: ArgumentHelp("Store files matching GLOB with this content type (default: by extension from /etc/mime.types). Repeatable.",
                               valueName: "GLOB=TYPE"))
    var contentTypeFor: [String] = []

    @Option(help: "When a key is already stored: overwrite it or skip the file.")
    var onConflict: String = SyncEngine.ConflictPolicy.overwrite.rawValue

    @Option(help: "Client-side limit of requests per second (the API allows 50 per project).")
    var rateLimit = 50.0

    func validate() throws {
        guard !folders.isEmpty else { throw ValidationError("name at least one --folder DIR[:PREFIX]") }
        guard workers >= 1 && workers <= 64 else { throw ValidationError("--workers must be between 1 and 64") }
        guard maxSize > 0 else { throw ValidationError("--max-size must be positive") }
        guard SyncEngine.ConflictPolicy(rawValue: onConflict) != nil else {
            throw ValidationError("--on-conflict must be overwrite or skip")
        }
        guard rateLimit > 0 else { throw ValidationError("--rate-limit must be positive") }
        for rule in contentTypeFor where !rule.contains("=") || rule.hasPrefix("=") || rule.hasSuffix("=") {
            throw ValidationError("--content-type-for \(rule): expected GLOB=TYPE, such as '*.md=text/markdown'")
        }
        _ = try folderSpecs()
    }

    /// The folders, resolved to absolute real paths; a missing folder is a usage error.
    func folderSpecs() throws -> [FolderSpec] {
        let filter = PathFilter(includes: include, excludes: PathFilter.defaultExcludes + exclude)
        var specs: [FolderSpec] = []
        for argument in folders {
            let (directory, prefix) = argument.firstIndex(of: ":").map {
                (String(argument[..<$0]), String(argument[argument.index(after: $0)...]))
            } ?? (argument, "")
            guard let real = realpath(directory, nil) else {
                throw ValidationError("folder \(directory): \(String(cString: strerror(errno)))")
            }
            let path = String(cString: real)
            free(real)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("folder \(directory) is not a directory")
            }
            let spec = FolderSpec(path: path, prefix: prefix, filter: filter)
            if let other = specs.first(where: { $0.path == spec.path || $0.path.hasPrefix(spec.path + "/") || spec.path.hasPrefix($0.path + "/") }) {
                throw ValidationError("folders \(other.path) and \(spec.path) overlap")
            }
            specs.append(spec)
        }
        return specs
    }

    func engineSettings() -> SyncEngine.Settings {
        var settings = SyncEngine.Settings()
        settings.workers = workers
        settings.maxSize = maxSize
        settings.onConflict = SyncEngine.ConflictPolicy(rawValue: onConflict) ?? .overwrite
        settings.requestsPerSecond = rateLimit
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
