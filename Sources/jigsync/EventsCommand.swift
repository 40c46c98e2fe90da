import ArgumentParser
import Foundation
import JigsyncCore

/// `jigsync events`: what the running daemon does, through its control socket.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print what the running daemon does: uploaded, failed, deleted, paused, resumed, action_done, action_failed.",
        discussion: """
            Prints the recent events (up to 256), then with --follow each new one as it happens until the daemon stops or \
            Ctrl-C. With --json each is one JSON object per line: {"event", "time", "path", "key", "size", "sha256", \
            "reason"}; a {"event": "live"} line marks the end of the backlog, and {"event": "dropped", "count": N} says a \
            slow reader missed N events (the daemon never waits for a reader).
            """)
    @OptionGroup var ledger: LedgerOption
    @Flag(help: "Keep printing events as they happen.") var follow = false
    @Flag(help: "Print JSON lines.") var json = false

    func run() throws {
        guard let owner = Ledger.owner(ofLedgerAt: ledger.path), let socket = owner.socket else {
            StandardError.write("jigsync: no running jigsync with a control socket owns \(ledger.path)\n")
            throw ExitCode(2)
        }
        let decoder = JSONDecoder()
        let problem = ControlServer.events(socket, follow: follow) { line in
            if let refused = try? decoder.decode(ControlResponse.self, from: line), !refused.ok {
                StandardError.write("jigsync: \(refused.error ?? "refused")\n")
                return false
            }
            if json {
                FileHandle.standardOutput.write(line + Data("\n".utf8))
            } else if let event = try? decoder.decode(DaemonActivity.self, from: line), event.event != .live {
                var text = "\(event.time) \(event.event.rawValue)"
                if let path = event.path { text += " \(path.escapedForDisplay)" }
                if let key = event.key { text += " key=\(key.escapedForDisplay)" }
                if let size = event.size { text += " size=\(size)" }
                if let reason = event.reason { text += ": \(reason.escapedForDisplay)" }
                FileHandle.standardOutput.write(Data((text + "\n").utf8))
            }
            return true
        }
        if let problem {
            StandardError.write("jigsync: pid \(owner.pid) owns \(ledger.path), but \(problem)\n")
            throw ExitCode(2)
        }
    }
}
