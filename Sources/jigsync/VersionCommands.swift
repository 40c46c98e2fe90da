import ArgumentParser
import Foundation
import JigsyncCore

/// The stored versions of a file on disk (in a folder with `versions: N`), newest first, from the
/// ledger; exits 1 when it has none.
func storedVersions(_ path: String, ledger: LedgerOption) throws -> [StoredVersion] {
    let (reader, record) = try ledgerRecord(path, ledger: ledger)
    let versions = try reader.versions(folder: record.folder, path: record.path)
    guard !versions.isEmpty else {
        StandardError.write("jigsync: \(path): no stored versions (its folder keeps none: set `versions: N`)\n")
        throw ExitCode(1)
    }
    return versions
}

/// `jigsync versions PATH`: the stored versions of a file.
struct VersionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "versions",
        abstract: "List the stored versions of a synced file, newest first: VERSION, size, when stored, key.",
        discussion: "Versions are kept for folders with `versions: N` (or --versions N), under PREFIX.versions/PATH/TIMESTAMP-SHA8.")
    @OptionGroup var ledger: LedgerOption
    @Argument(help: "The file's path on disk.") var path: String

    func run() throws {
        for version in try storedVersions(path, ledger: ledger) {
            let stored = ISO8601Text.utc(milliseconds: version.storedAt, fractional: false)
            print("\(version.name)\t\(version.size)\t\(stored)\t\(version.key.escapedForDisplay)")
        }
    }
}

/// `jigsync restore PATH`: fetch a stored version back.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Fetch a stored version of a synced file (the newest, or --version) back to its path or to --to FILE.",
        discussion: "The file appears under its name only once it is complete. Restored in place, it is a change: the daemon stores it again.")
    @OptionGroup var ledger: LedgerOption
    @Argument(help: "The file's path on disk.") var path: String
    @Option(help: ArgumentHelp("The version to fetch, as `jigsync versions` names it (TIMESTAMP-SHA8) (default: the newest).", valueName: "VERSION"))
    var version: String?
    @Option(help: ArgumentHelp("Write it here instead of over PATH.", valueName: "FILE")) var to: String?
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let versions = try storedVersions(path, ledger: ledger)
        guard let chosen = version.map({ name in versions.first { $0.name == name } }) ?? versions.first else {
            StandardError.write("jigsync: \(path): no version \(version ?? "") (see `jigsync versions \(path)`)\n")
            throw ExitCode(1)
        }
        let configuration = store.storeConfiguration()
        try requireAPIKey(configuration)
        let client = FileStoreClient(configuration: configuration)
        let target = to.map(absolute) ?? resolvedPath(path)
        let destination: WritableFile
        do {
            destination = try WritableFile(creatingAt: target)
        } catch {
            throw fail(error, doing: "restore")
        }
        do {
            let result = try await client.read(key: chosen.key, into: destination)
            guard result.sha256 == chosen.sha256 else {
                throw StoreError(.retryLater, message: "the stored version does not have the content recorded (sha256 \(result.sha256), expected \(chosen.sha256))")
            }
            try destination.commit()
        } catch {
            destination.discard()
            throw fail(error, doing: "restore \(chosen.key)")
        }
        print("restored \(chosen.name) (\(chosen.size) bytes) to \(target.escapedForDisplay)")
    }
}
