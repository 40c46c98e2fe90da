import ArgumentParser
import Foundation
import JigsyncCore

/// Sends a request to the daemon that owns the ledger; exits 2 with the reason when none answers.
func askDaemon(ledger: LedgerOption, _ request: [String: Any]) throws -> [String: Any] {
    guard let owner = Ledger.owner(ofLedgerAt: ledger.path) else {
        FileHandle.standardError.write(Data("jigsync: no running jigsync owns \(ledger.path)\n".utf8))
        throw ExitCode(2)
    }
    guard let socket = owner.socket, let answer = ControlServer.ask(socket, request) else {
        FileHandle.standardError.write(Data("jigsync: pid \(owner.pid) owns \(ledger.path) but its control socket does not answer\n".utf8))
        throw ExitCode(2)
    }
    guard answer["ok"] as? Bool == true else {
        FileHandle.standardError.write(Data("jigsync: \(answer["error"] as? String ?? "the daemon refused")\n".utf8))
        throw ExitCode(1)
    }
    return answer
}

/// `jigsync pause`: hold every upload in the running daemon.
struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Hold uploads in the running daemon (it keeps watching and recording) until `jigsync resume`.")
    @OptionGroup var ledger: LedgerOption

    func run() throws {
        _ = try askDaemon(ledger: ledger, ["command": "pause"])
        print("uploads held; `jigsync resume` continues")
    }
}

/// `jigsync resume`: end a pause (and probe a rejected key at once).
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Resume uploads held by `jigsync pause` (and retry a rejected key at once).")
    @OptionGroup var ledger: LedgerOption

    func run() throws {
        _ = try askDaemon(ledger: ledger, ["command": "resume"])
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
        let answer = try askDaemon(ledger: ledger, ["command": "reload"])
        print("reloaded: \((answer["folders"] as? [String] ?? []).joined(separator: ", "))")
    }
}
