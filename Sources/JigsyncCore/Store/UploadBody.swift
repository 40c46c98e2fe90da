import Crypto
import Foundation

/// The body of an upload: a file sent from its open descriptor, hashed as it is read.
///
/// The bytes hashed are exactly the bytes handed to curl. If curl rewinds (a reused connection
/// the server had closed), the hash and the count restart with it. A file that ends early or
/// grows past the length declared ends the transfer as "changed while sending".
///
/// Not thread-safe: after submission only the curl thread touches it.
final class UploadBody {
    let file: ReadableFile
    /// The length declared in `Content-Length`, fixed when the upload starts.
    let declaredLength: Int64
    private(set) var offset: Int64 = 0
    private var hasher = SHA256()
    /// Why the transfer was aborted because of the file, if it was.
    private(set) var changeReason: String?

    init(file: ReadableFile) {
        self.file = file
        self.declaredLength = file.openedStat.size
    }

    /// The storage of `readWhole`, owned until the body goes.
    private var whole: UnsafeMutableRawBufferPointer?

    /// The whole body read at once (once per body), for a small one sent with the request's
    /// headers in one write; nil when the file changed (`changeReason` says how). Read, hashed
    /// and checked at its end exactly as `fill` does.
    func readWhole() -> UnsafeRawBufferPointer? {
        let length = Int(declaredLength)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, length), alignment: 16)
        whole = buffer
        var filled = 0
        while filled < length {
            guard let n = fill(UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<length])), n > 0 else { return nil }
            filled += n
        }
        if length == 0 && !checkUnchangedAtEnd() { return nil }
        return UnsafeRawBufferPointer(rebasing: buffer[0..<length])
    }

    deinit { whole?.deallocate() }

    /// Fills `buffer` with the next bytes; returns nil when the file changed (the transfer must abort).
    func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let wanted = Int(min(Int64(buffer.count), declaredLength - offset))
        if wanted == 0 {
            // curl asks again only if it expects more; the declared length is reached.
            return checkUnchangedAtEnd() ? 0 : nil
        }
        let n: Int
        do {
            n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted]), at: offset)
        } catch {
            changeReason = "could not be read while sending: \(error.reason)"
            return nil
        }
        if n == 0 {
            changeReason = "shrank while it was being sent (\(offset) of \(declaredLength) bytes read)"
            return nil
        }
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        offset += Int64(n)
        if offset == declaredLength && !checkUnchangedAtEnd() { return nil }
        return n
    }

    /// Rewinds to the start (curl resending the body on a new connection).
    func rewind() {
        offset = 0
        hasher = SHA256()
    }

    /// After the last byte: the file must be exactly as long as declared and not modified since it
    /// was opened, or the bytes sent may be a mix of two versions.
    private func checkUnchangedAtEnd() -> Bool {
        var probe: UInt8 = 0
        let extra = (try? withUnsafeMutableBytes(of: &probe) { try file.read(into: $0, at: declaredLength) }) ?? 0
        if extra > 0 {
            changeReason = "grew while it was being sent (declared \(declaredLength) bytes)"
            return false
        }
        if let now = try? file.currentStat(), now.contentMayDiffer(from: file.openedStat) {
            changeReason = "was modified while it was being sent"
            return false
        }
        return true
    }

    /// Checks once more after the server answered; the file may have changed after the last read.
    func verifyUnchangedAfterSend() -> String? {
        if let reason = changeReason { return reason }
        return checkUnchangedAtEnd() ? nil : changeReason
    }

    /// Hex SHA-256 of what was sent so far (the whole body once the transfer completed).
    func sentDigest() -> String {
        hasher.finalize().hexString
    }
}
