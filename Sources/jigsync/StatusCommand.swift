import ArgumentParser
import Foundation
import JigsyncCore

/// `jigsync status`: what the ledger says, read-only, while another process may own it.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the ledger: counts per state, then the files asked for (failed first, with their reason).",
        discussion: """
            Without PATH or --state it lists the files that need attention (failed, pending, uploading, deleting, skipped).
            --json prints {"summary": {"<state>": count, ...}, "files": [{"path", "key", "state", "size", "sha256",
            "attempts", "last_error", "url", "uploaded_at"}]}.
            """
    )

    @OptionGroup var ledger: LedgerOption
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "List the files in this state.") var state: FileState?
    @Flag(help: "List every file.") var all = false
    @Argument(help: "Files to show (paths on disk).") var paths: [String] = []
    @Flag(help: "Health for a monitor: exit 0 healthy, 1 degraded (failed files, remote deletes held, uploads held by `jigsync pause`, or a due file older than --max-age), 2 broken (no daemon, uploads paused by the service, a folder gone); one line saying why.")
    var check = false
    @Option(help: "With --check: the oldest a due file may be before the state is degraded (default 1h).")
    var maxAge = "1h"

    func validate() throws {
        guard DurationParser.parse(maxAge) != nil else { throw ValidationError("--max-age: not a duration: \(maxAge)") }
    }

    func run() throws {
        let reader: LedgerReader
        do { reader = try LedgerReader(path: ledger.path) } catch {
            // A daemon may still own a ledger that cannot be read (deleted or replaced under it):
            // its own account, in the lock file, says more than "does not exist".
            let owner = Ledger.owner(ofLedgerAt: ledger.path)
            let attention = owner?.note.flatMap(Attention.init(encoded:)).flatMap { $0.level == .broken ? $0.summary : nil }
            let message = attention.map { "\($0) (pid \(owner!.pid) owns it)" } ?? "\(error)"
            if check {
                print("broken: \(message)")
                throw ExitCode(2)
            }
            StandardError.write("jigsync: \(message)\n")
            throw ExitCode(2)
        }
        let summary = try reader.summary()
        if check { try health(summary, failedActions: try reader.actions(listing: []).counts[.failed] ?? 0) }
        var files: [FileRecord] = []
        if !paths.isEmpty {
            for path in paths {
                guard let record = try reader.record(atAbsolutePath: absolute(path)) else {
                    StandardError.write("jigsync: \(path): not in the ledger\n")
                    throw ExitCode(1)
                }
                files.append(record)
            }
        } else {
            let states: [FileState]? = all ? nil : state.map { [$0] } ?? [.failed, .pending, .uploading, .deleting, .skipped]
            try reader.forEach(states: states) { files.append($0) }
        }
        files.sort { ($0.state == .failed ? 0 : 1, $0.folder, $0.path) < ($1.state == .failed ? 0 : 1, $1.folder, $1.path) }
        let actions = try reader.actions()
        let owner = Ledger.owner(ofLedgerAt: ledger.path)
        // A running daemon adds what only it knows: the queue and what is being sent now.
        let live: Result<LiveStatus, ControlServer.AskError>? = owner?.socket.map { socket in
            ControlServer.ask(socket, ControlRequest(.status), timeout: Self.liveTimeout).flatMap { answer in
                answer.live.map { .success($0) } ?? .failure(.garbled)
            }
        }
        if json {
            printJSON(summary: summary, files: files, owner: owner, live: live, actions: actions)
        } else {
            printText(summary: summary, files: files, owner: owner, live: live)
            printText(actions: actions)
        }
    }

    /// How long `status` waits for a running daemon's live section before it prints the ledger alone.
    static let liveTimeout: Duration = .seconds(5)

    /// One line and an exit code a monitor can read.
    private func health(_ summary: LedgerReader.Summary, failedActions: Int) throws -> Never {
        guard let owner = Ledger.owner(ofLedgerAt: ledger.path) else {
            print("broken: no jigsync process owns \(ledger.path)")
            throw ExitCode(2)
        }
        let attention = owner.note.flatMap(Attention.init(encoded:)) ?? Attention()
        if attention.level == .broken {
            print("broken: \(attention.summary)")
            throw ExitCode(2)
        }
        if attention.level == .degraded {
            print("degraded: \(attention.summary)")
            throw ExitCode(1)
        }
        let failed = summary.counts[.failed] ?? 0
        if failed > 0 {
            print("degraded: \(failed) file(s) failed; `jigsync status --state failed` says why")
            throw ExitCode(1)
        }
        if failedActions > 0 {
            print("degraded: \(failedActions) action(s) failed; `jigsync status` shows why, `jigsync retry --actions` runs them again")
            throw ExitCode(1)
        }
        if let oldest = summary.oldestDueExaminedAt {
            let age = Double(Int64(Date().timeIntervalSince1970 * 1e9) - oldest) / 1e9
            let limit = DurationParser.parse(maxAge)!
            if age > Double(limit.components.seconds) {
                print(String(format: "degraded: the oldest due file has waited %.0f s (more than %@)", age, maxAge))
                throw ExitCode(1)
            }
        }
        let due = (summary.counts[.pending] ?? 0) + (summary.counts[.uploading] ?? 0)
        print("healthy: pid \(owner.pid), \(summary.counts[.uploaded] ?? 0) uploaded, \(due) due")
        throw ExitCode(0)
    }

    private func printJSON(summary: LedgerReader.Summary, files: [FileRecord], owner: (pid: Int32, since: Date, socket: String?, note: String?)?,
                           live: Result<LiveStatus, ControlServer.AskError>?,
                           actions: (counts: [ActionRecord.State: Int], rows: [ActionRecord])) {
        var counts: [String: Int] = [:]
        for state in FileState.allCases { counts[state.rawValue] = summary.counts[state] ?? 0 }
        let rows: [[String: Any]] = files.map(Self.jsonRow)
        var object: [String: Any] = ["summary": counts, "files": rows]
        if !actions.counts.isEmpty {
            var actionCounts: [String: Int] = [:]
            for state in ActionRecord.State.allCases { actionCounts[state.rawValue] = actions.counts[state] ?? 0 }
            object["actions"] = ["summary": actionCounts, "failed": actions.rows.map { a -> [String: Any] in
                ["path": a.folder + "/" + a.path, "key": a.key, "event": a.event.rawValue, "attempts": a.attempts,
                 "exit_status": a.exitStatus as Any? ?? NSNull(), "last_error": a.lastError as Any? ?? NSNull()]
            }]
        }
        object["owner"] = owner.map { owner -> [String: Any] in
            let attention = owner.note.flatMap(Attention.init(encoded:))
            return ["pid": Int(owner.pid), "since": iso8601(milliseconds: Int64(owner.since.timeIntervalSince1970 * 1000)),
                    "note": attention.map(\.summary) as Any? ?? NSNull(),
                    "attention": attention.flatMap { try? JSONSerialization.jsonObject(with: JSONEncoder().encode($0)) } ?? NSNull()]
        } ?? NSNull()
        switch live {
        case .success(let status)?:
            object["live"] = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(status))) ?? NSNull()
        case .failure(let problem)?:
            object["live"] = ["error": problem.description]
        case nil:
            break
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    /// Actions after upload: counts, then each failed one with its reason (its stderr lines indented).
    private func printText(actions: (counts: [ActionRecord.State: Int], rows: [ActionRecord])) {
        guard !actions.counts.isEmpty else { return }
        print("actions: " + ActionRecord.State.allCases.map { "\($0.rawValue) \(actions.counts[$0] ?? 0)" }.joined(separator: "  "))
        for a in actions.rows {
            print("action failed  \((a.folder + "/" + a.path).escapedForDisplay) (\(a.event.rawValue), \(a.attempts) runs)")
            for line in (a.lastError ?? "").split(separator: "\n") { print("    \(String(line).escapedForDisplay)") }
        }
    }

    private static func jsonRow(_ r: FileRecord) -> [String: Any] {
        var row: [String: Any] = [:]
        row["path"] = r.folder + "/" + r.path
        row["key"] = r.key
        row["state"] = r.state.rawValue
        row["size"] = r.size
        row["sha256"] = (r.uploadedSHA256 ?? r.sha256) as Any? ?? NSNull()
        row["attempts"] = r.attempts
        row["last_error"] = r.lastError as Any? ?? NSNull()
        row["url"] = r.remoteURL as Any? ?? NSNull()
        row["uploaded_at"] = r.uploadedAt.map { iso8601(milliseconds: $0) } as Any? ?? NSNull()
        return row
    }

    private func printText(summary: LedgerReader.Summary, files: [FileRecord], owner: (pid: Int32, since: Date, socket: String?, note: String?)?,
                           live: Result<LiveStatus, ControlServer.AskError>?) {
        print("ledger: \(ledger.path)")
        if let owner {
            print("owned by: pid \(owner.pid) since \(iso8601(milliseconds: Int64(owner.since.timeIntervalSince1970 * 1000)))")
            for item in owner.note.flatMap(Attention.init(encoded:))?.items ?? [] {
                print("attention (\(item.level.rawValue)): \(item.message.escapedForDisplay)")
            }
            switch live {
            case .success(let status)?:
                print("live: \(status.due) due, \(status.uploading) uploading")
                for job in status.inFlight { print("  sending \(job.path.escapedForDisplay): \(job.bytesSent) of \(job.size) bytes") }
            case .failure(let problem)?:
                print("live: not available: \(problem)")
            case nil:
                print("live: not available: the owner has no control socket")
            }
        } else {
            print("owned by: no running jigsync")
        }
        print(FileState.allCases.map { "\($0.rawValue) \(summary.counts[$0] ?? 0)" }.joined(separator: "  "))
        print("uploaded bytes: \(summary.uploadedBytes)" + (summary.lastUploadAt.map { "; last upload \(iso8601(milliseconds: $0))" } ?? ""))
        if let oldest = summary.oldestDueExaminedAt {
            let age = Double(Int64(Date().timeIntervalSince1970 * 1e9) - oldest) / 1e9
            print(String(format: "oldest due file: %.0f s old", max(0, age)))
        }
        // One row per file, tab-separated: names and messages escaped (as `ls -b` does), so a
        // newline or tab in a name can neither add a row nor shift a column. --json is exact.
        for r in files {
            var line = "\(r.state.rawValue)\t\((r.folder + "/" + r.path).escapedForDisplay)\t\(r.key.escapedForDisplay)"
            if let hash = r.uploadedSHA256 ?? r.sha256 { line += "\t\(hash)" }
            if let error = r.lastError { line += "\t\(error.escapedForDisplay)" }
            print(line)
        }
    }
}

extension FileState: ExpressibleByArgument {}

func iso8601(milliseconds: Int64) -> String {
    ISO8601Text.utc(milliseconds: milliseconds, fractional: true)
}
