import Foundation
import Glibc

/// The ownership of a ledger: an exclusive `flock` on `LEDGER.lock`, which holds the owner's pid.
///
/// The kernel drops the lock when the process dies (even by `kill -9`), so a crash never leaves
/// a ledger locked. Released when this object goes away.
final class LedgerLock {
    let path: String
    private let fd: Int32

    /// Takes the lock or throws `.inUse` naming the owner's pid.
    init(ledgerPath: String) throws(LedgerError) {
        path = ledgerPath + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw LedgerError(.failed, path: ledgerPath, message: "cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let owner = Self.readOwner(fd)
            close(fd)
            let who = owner.map { "pid \($0)" } ?? "another process"
            throw LedgerError(.inUse(pid: owner), path: ledgerPath, message: "ledger in use by \(who)")
        }
        self.fd = fd
        started = Int64(Date().timeIntervalSince1970)
        write(note: nil)
    }

    private let started: Int64
    private var note: String?
    /// The owner's control socket, for `status`, `retry`, `pause` and `resume` from other processes.
    var socketPath: String? {
        didSet { write(note: note) }
    }

    /// Rewrites the lock file: pid, start time, the control socket (or "-"), and a line for
    /// `status` (why uploads are paused).
    func write(note: String?) {
        self.note = note
        let record = "\(getpid())\n\(started)\n\(socketPath ?? "-")\n" + (note.map { $0.replacingOccurrences(of: "\n", with: " ") + "\n" } ?? "")
        // Overwrite, then cut: the file's first page is kept, so the note still gets through
        // when the file system is full (that is when it matters most: "ledger writes failing").
        let written = record.withCString { pwrite(fd, $0, strlen($0), 0) }
        if written >= 0 { ftruncate(fd, off_t(written)) }
    }

    deinit { close(fd) }   // closing the descriptor releases the flock

    /// The pid and start time written by the current owner of `ledgerPath`, if one holds it.
    static func owner(ofLedgerAt ledgerPath: String) -> (pid: Int32, since: Date, socket: String?, note: String?)? {
        let fd = open(ledgerPath + ".lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // If we can take a shared lock, nobody holds the exclusive one: no owner.
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        guard let text = readText(fd) else { return nil }
        let lines = text.split(separator: "\n")
        guard let pid = lines.first.flatMap({ Int32($0) }) else { return nil }
        let since = lines.dropFirst().first.flatMap { Double($0) }.map { Date(timeIntervalSince1970: $0) } ?? Date()
        let socket = lines.count > 2 && lines[2] != "-" ? String(lines[2]) : nil
        return (pid, since, socket, lines.count > 3 ? String(lines[3]) : nil)
    }

    private static func readOwner(_ fd: Int32) -> Int32? {
        readText(fd).flatMap { $0.split(separator: "\n").first }.flatMap { Int32($0) }
    }

    private static func readText(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
