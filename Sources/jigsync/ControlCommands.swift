import ArgumentParser
import Foundation
import JigsyncCore

/// Sends a request to the daemon that owns the ledger; exits 2 with the reason when none answers
/// (within the control socket's timeout), 1 when it refuses.
func askDaemon(ledger: LedgerOption, _ request: ControlRequest) throws -> ControlResponse {
    guard let owner = Ledger.owner(ofLedgerAt: ledger.path) else {
        StandardError.write("jigsync: no running jigsync owns \(ledger.path)\n")
        throw ExitCode(2)
    }
    guard let socket = owner.socket else {
        StandardError.write("jigsync: pid \(owner.pid) owns \(ledger.path) but has no control socket\n")
        throw ExitCode(2)
    }
    switch ControlServer.ask(socket, request) {
    case .failure(let problem):
        StandardError.write("jigsync: pid \(owner.pid) owns \(ledger.path), but \(problem)\n")
        throw ExitCode(2)
    case .success(let answer) where !answer.ok:
        StandardError.write("jigsync: \(answer.error ?? "the daemon refused")\n")
        throw ExitCode(1)
    case .success(let answer):
        return answer
    }
}

/// `jigsync pause`: hold every upload in the running daemon.
struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Hold uploads in the running daemon (it keeps watching and recording) until `jigsync resume`.")
    @OptionGroup var ledger: LedgerOption

    func run() throws {
        _ = try askDaemon(ledger: ledger, ControlRequest(.pause))
        print("uploads held; `jigsync resume` continues")
    }
}

/// `jigsync resume`: end a pause (and probe a rejected key at once).
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Resume uploads held by `jigsync pause` (and retry a rejected key at once); with --folder, let go the overwrites the damage guard holds there.")
    @OptionGroup var ledger: LedgerOption

    @Option(help: ArgumentHelp("The folder whose overwrites the damage guard holds: they are sent, and its count starts afresh.", valueName: "DIR"))
    var folder: String?

    func run() throws {
        if let folder {
            let path = realpath(absolute(folder), nil).map { p in defer { free(p) }; return String(cString: p) } ?? absolute(folder)
            let answer = try askDaemon(ledger: ledger, ControlRequest(.resume, folder: path))
            print("damage guard released in \(path): \(answer.queued ?? 0) overwrite(s) queued")
            return
        }
        _ = try askDaemon(ledger: ledger, ControlRequest(.resume))
        print("uploads resumed")
    }
}

/// `jigsync reload`: the running daemon re-reads its configuration file (as on SIGHUP).
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the running daemon re-read its configuration file (as SIGHUP does).",
        discussion: "A file that does not load is refused with the reason, and the running configuration stays in force.")
    @OptionGroup var ledger: LedgerOption

    func run() throws {
        let answer = try askDaemon(ledger: ledger, ControlRequest(.reload))
        print("reloaded: \((answer.folders ?? []).joined(separator: ", "))")
    }
}
