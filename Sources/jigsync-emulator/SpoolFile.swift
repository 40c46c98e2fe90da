import Crypto
import Foundation

/// A body arriving on disk: written chunk by chunk, counted and hashed as it is written.
final class SpoolFile {
    let path: String
    private let fd: Int32
    private(set) var size: Int64 = 0
    private var hasher = SHA256()
    /// The first `ContentSniffer.headLength` bytes, for content detection without a read back.
    private(set) var head = Data()
    private var closed = false

    init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw EmulatorError("create \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        self.path = path
    }

    deinit { if !closed { close(fd) } }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw EmulatorError("write \(path): \(String(cString: strerror(errno)))") }
            done += n
        }
        if head.count < ContentSniffer.headLength {
            head.append(contentsOf: bytes.prefix(ContentSniffer.headLength - head.count))
        }
        hasher.update(bufferPointer: bytes)
        size += Int64(bytes.count)
    }

    /// Closes the file; returns the hex SHA-256 of everything written.
    func finish() -> String {
        if !closed { close(fd); closed = true }
        return Self.hex(hasher.finalize())
    }

    /// Closes and removes the file (the body was refused or cut off).
    func discard() {
        if !closed { close(fd); closed = true }
        unlink(path)
    }

    /// SHA-256 and size of an existing file, read in chunks.
    static func digest(ofFileAt path: String) throws -> (size: Int64, sha256: String) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw EmulatorError("open \(path) failed") }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            size += Int64(chunk.count)
        }
        return (size, Self.hex(hasher.finalize()))
    }

    /// Lowercase hex of a digest, from a table (a format string per byte costs more than the hash).
    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
