import Crypto
import Foundation

/// Scratch directories and files with known content.
enum TemporaryDirectory {
    static func make(prefix: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appending(path: "jigsync-tests/\(prefix)-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

enum TestFiles {
    /// Writes `size` pseudo-random bytes (seeded, so failures replay) to a new file; returns its path and SHA-256.
    @discardableResult
    static func make(size: Int, in directory: URL, name: String = UUID().uuidString, seed: UInt64 = 42) throws -> (path: String, sha256: String) {
        let url = directory.appending(path: name)
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var state = seed &+ UInt64(size)
        var hasher = SHA256()
        var remaining = size
        let chunkSize = 1 << 20
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while remaining > 0 {
            let n = min(chunkSize, remaining)
            for i in stride(from: 0, to: n, by: 8) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                withUnsafeBytes(of: state) { word in
                    for j in 0..<min(8, n - i) { chunk[i + j] = word[j] }
                }
            }
            let data = Data(chunk[0..<n])
            hasher.update(data: data)
            try handle.write(contentsOf: data)
            remaining -= n
        }
        return (url.path, hex(hasher.finalize()))
    }

    static func sha256(ofFileAt path: String) throws -> String {
        hex(SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)))
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

extension TestFiles {
    /// Writes `content` at `relative` beneath `root`, creating directories.
    @discardableResult
    static func write(_ relative: String, _ content: String, in root: URL) throws -> URL {
        let url = root.appending(path: relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: url)
        return url
    }
}
