import ArgumentParser
import Foundation
import JigsyncCore

/// The ledger and the row of a file on disk; exits 2 when the ledger cannot be read, 1 with the
/// reason when the file has no row.
func ledgerRecord(_ path: String, ledger: LedgerOption) throws -> (LedgerReader, FileRecord) {
    let reader: LedgerReader
    do { reader = try LedgerReader(path: ledger.path) } catch {
        StandardError.write("jigsync: \(error)\n")
        throw ExitCode(2)
    }
    guard let record = try reader.record(atAbsolutePath: resolvedPath(path)) else {
        StandardError.write("jigsync: \(path): not in the ledger (not in a synced folder, or not synced yet)\n")
        throw ExitCode(1)
    }
    return (reader, record)
}

/// Looks up the ledger row of a file on disk; exits 1 with the reason when it has none or was never uploaded.
func uploadedRecord(_ path: String, ledger: LedgerOption) throws -> FileRecord {
    let (_, record) = try ledgerRecord(path, ledger: ledger)
    guard record.uploadedSHA256 != nil else {
        StandardError.write("jigsync: \(path): not uploaded yet (\(record.state.rawValue)\(record.lastError.map { ": \($0)" } ?? ""))\n")
        throw ExitCode(1)
    }
    return record
}

/// The path with its directory resolved (the ledger holds folders by real path), its name kept.
func resolvedPath(_ path: String) -> String {
    let full = absolute(path)
    let directory = (full as NSString).deletingLastPathComponent
    guard let real = realpath(directory, nil) else { return full }
    defer { free(real) }
    return String(cString: real) + "/" + (full as NSString).lastPathComponent
}

/// `jigsync key PATH`: the stored key, for `file_store_key` in other JigsawStack APIs.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Print the stored key of a synced file (for file_store_key).")
    @OptionGroup var ledger: LedgerOption
    @Argument(help: "The file's path on disk.") var path: String

    func run() throws { print(try uploadedRecord(path, ledger: ledger).key) }
}

/// `jigsync url PATH`: where the stored file is read from.
struct URLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "url",
        abstract: "Print the URL of a synced file; with $JIGSAWSTACK_PUBLIC_KEY set, the public URL.",
        discussion: "The URL is the one the service answered when the file was uploaded, the same `jigsync status` shows.")
    @OptionGroup var ledger: LedgerOption
    @Option(help: "Base URL of the API, for a row that holds no URL (default: $JIGSAWSTACK_API_URL).") var endpoint: String?
    @Argument(help: "The file's path on disk.") var path: String

    func validate() throws {
        if let endpoint, let problem = ConfigurationLoader.endpointProblem(endpoint) { throw ValidationError("--endpoint: \(problem)") }
    }

    func run() throws {
        let record = try uploadedRecord(path, ledger: ledger)
        var configuration = StoreConfiguration.fromEnvironment()
        if let endpoint { configuration.baseURL = StoreConfiguration(baseURL: endpoint, apiKey: nil).baseURL }
        let urls = StoreURLs(configuration: configuration)
        // The row keeps the URL the service gave for the upload: it names the endpoint the file
        // went to, whatever this shell's environment says now.
        guard let stored = record.remoteURL, !stored.isEmpty else {
            print(urls.readURL(key: record.key))
            return
        }
        // With a public key, the same query StoreURLs adds (`?x-api-key=PUBLIC_KEY`), encoded by it.
        let publicQuery = urls.readURL(key: record.key).dropFirst(urls.fileURL(key: record.key).count)
        if publicQuery.isEmpty {
            print(stored)
        } else {
            print(stored + (stored.contains("?") ? "&" + publicQuery.dropFirst() : publicQuery))
        }
    }
}

/// `jigsync retry`: make failed files due again, or let held remote deletes go.
struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Make failed files due again (all with --failed, or the files named), or let the remote deletes held by the mass-delete guard go (--deletes), or run failed actions again (--actions).",
        discussion: "With a running daemon the request goes to it through its control socket; otherwise the ledger is changed directly.")
    @OptionGroup var ledger: LedgerOption
    @Flag(help: "Every failed file.") var failed = false
    @Flag(help: "The remote deletes the mass-delete guard holds back (a running daemon sends them).") var deletes = false
    @Flag(help: "The failed actions after upload (a running daemon runs them; otherwise the next `jigsync run`).") var actions = false
    @Argument(help: "Files to retry (paths on disk).") var paths: [String] = []

    func validate() throws {
        let chosen = [failed, deletes, actions, !paths.isEmpty].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("name files to retry, or --failed, --deletes or --actions (one of them)") }
    }

    func run() async throws {
        if Ledger.owner(ofLedgerAt: ledger.path) != nil {
            let request = ControlRequest(.retry, paths: paths.isEmpty ? nil : paths.map(resolvedPath),
                                         failed: failed ? true : nil, deletes: deletes ? true : nil, actions: actions ? true : nil)
            let answer = try askDaemon(ledger: ledger, request)
            print("\(answer.queued ?? 0) \(deletes ? "remote delete(s)" : actions ? "action(s)" : "file(s)") queued again by the running daemon")
            return
        }
        if deletes {
            // Nothing holds them without a daemon: the next `jigsync run` sends what the ledger owes.
            let reader = try LedgerReader(path: ledger.path)
            let owed = try reader.summary().counts[.deleting] ?? 0
            print("no daemon is running; \(owed) remote delete(s) owed are sent when `jigsync run` starts")
            return
        }
        let owned: Ledger
        do { owned = try Ledger(path: ledger.path) } catch {
            StandardError.write("jigsync: \(error)\n")
            throw ExitCode(2)
        }
        if actions {
            let due = try await owned.retryActions().count
            print("\(due) action(s) due again; the next `jigsync run` runs them")
            return
        }
        var changed = 0
        if failed {
            changed = try await owned.retry()
        } else {
            let reader = try LedgerReader(path: ledger.path)
            for path in paths {
                guard let record = try reader.record(atAbsolutePath: resolvedPath(path)) else {
                    StandardError.write("jigsync: \(path): not in the ledger\n")
                    throw ExitCode(1)
                }
                changed += try await owned.retry(folder: record.folder, paths: [record.path])
            }
        }
        print("\(changed) file(s) due again; the next sync or the running daemon uploads them")
    }
}
