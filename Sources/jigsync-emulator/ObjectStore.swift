import Crypto
import Foundation
import Synchronization

/// One stored file's metadata, persisted as JSON beside its bytes.
struct StoredObject: Codable, Sendable {
    var key: String
    var size: Int64
    var sha256: String
    var contentType: String
    /// How many uploads have written this key (1 for the first).
    var writes: Int
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case key, size, sha256, writes
        case contentType = "content_type"
        case updatedAt = "updated_at"
    }

    /// The metadata file's bytes, as `JSONEncoder` with `.iso8601` dates wrote them (slashes
    /// escaped), read back by the `Decodable` conformance. Written by hand: one per upload, and
    /// a `JSONEncoder` cost more than the file's write.
    var json: Data {
        var text = JSONText(escapingSlashes: true)
        text.field(CodingKeys.key.rawValue, key)
        text.field(CodingKeys.size.rawValue, size)
        text.field(CodingKeys.sha256.rawValue, sha256)
        text.field(CodingKeys.contentType.rawValue, contentType)
        text.field(CodingKeys.writes.rawValue, Int64(writes))
        text.field(CodingKeys.updatedAt.rawValue, updatedAt)
        return text.data
    }
}

/// The emulator's storage: a directory of objects that survives restarts.
///
/// Layout under `root`: `objects/<sha256 of key>` holds the bytes, `objects/<…>.json` the
/// metadata; `incoming/` holds bodies still arriving and metadata being written. A body is
/// renamed into `objects/` only once it arrived whole, then its metadata file likewise, so a
/// cut-off upload (or a kill at any point) leaves no metadata naming bytes that are not all
/// there. The actor serializes
/// every change to the index and to the directory.
actor ObjectStore {
    enum CommitOutcome {
        case stored(StoredObject)
        case exists
    }

    let root: URL
    private let objectsDirectory: String
    /// `incoming/<pid>-`: with a number from `incomingCounter`, the name of a file being
    /// received. The directory is emptied at every start, so a number unique within this process
    /// (the pid in case two share the directory) is enough; a UUID cost a read of `/dev/urandom`
    /// per upload.
    private let incomingPrefix: String
    private let incomingCounter = Atomic<UInt64>(0)
    /// By the key's UTF-8 bytes, as the service keeps keys: `String` equality would make `café`
    /// in NFC and in NFD one key, and one upload would overwrite the other.
    private var index: [[UInt8]: StoredObject] = [:]

    init(root: URL) throws {
        self.root = root
        objectsDirectory = root.appending(path: "objects").path
        incomingPrefix = root.appending(path: "incoming").path + "/\(getpid())-"
        let fm = FileManager.default
        try fm.createDirectory(at: root.appending(path: "objects"), withIntermediateDirectories: true)
        // Bodies of uploads cut off by a crash or a stop are never complete: drop them.
        try? fm.removeItem(at: root.appending(path: "incoming"))
        try fm.createDirectory(at: root.appending(path: "incoming"), withIntermediateDirectories: true)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        for name in try fm.contentsOfDirectory(atPath: root.appending(path: "objects").path) where name.hasSuffix(".json") {
            let url = root.appending(path: "objects").appending(path: name)
            if let data = try? Data(contentsOf: url), let object = try? decoder.decode(StoredObject.self, from: data) {
                index[Array(object.key.utf8)] = object
            }
        }
    }

    /// A fresh path under `incoming/` for a body being received.
    nonisolated func incomingPath() -> String {
        incomingPrefix + String(incomingCounter.add(1, ordering: .relaxed).newValue)
    }

    func object(for key: String) -> StoredObject? { index[Array(key.utf8)] }

    func exists(_ key: String) -> Bool { index[Array(key.utf8)] != nil }

    /// The path of the bytes stored under `key`.
    nonisolated func blobPath(for key: String) -> String {
        objectsDirectory + "/" + Self.digest(key)
    }

    /// Moves a complete body into place under `key`.
    func commit(key: String, bodyPath: String, size: Int64, sha256: String, contentType: String, overwrite: Bool) throws -> CommitOutcome {
        let id = Array(key.utf8)
        let previous = index[id]
        if previous != nil, !overwrite {
            unlink(bodyPath)
            return .exists
        }
        let writes = (previous?.writes ?? 0) + 1
        let object = StoredObject(key: key, size: size, sha256: sha256, contentType: contentType, writes: writes, updatedAt: Date())
        let blob = blobPath(for: key)
        guard rename(bodyPath, blob) == 0 else {
            throw EmulatorError("rename into \(blob): \(String(cString: strerror(errno)))")
        }
        try replaceFile(at: blob + ".json", with: object.json)
        index[id] = object
        return .stored(object)
    }

    /// Removes `key`; false when it did not exist.
    func delete(_ key: String) -> Bool {
        guard index.removeValue(forKey: Array(key.utf8)) != nil else { return false }
        let blob = blobPath(for: key)
        unlink(blob + ".json")
        unlink(blob)
        return true
    }

    /// Every stored object, sorted by the bytes of its key, for the inspection endpoint.
    func listing() -> [StoredObject] {
        index.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value)
    }

    /// Writes `bytes` to a new file under `incoming/`, then renames it over `path`: a reader (or a
    /// restart after kill -9) sees the old file or the whole new one, never part of it. No fsync:
    /// the guarantee is against a killed process, not a power cut (the blob beside it is not
    /// synced either), and Foundation's `.atomic` write spent most of an upload's disk time in it.
    private func replaceFile(at path: String, with bytes: Data) throws {
        let temporary = incomingPath()
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw EmulatorError("create \(temporary): \(String(cString: strerror(errno)))") }
        var failure: Int32 = 0
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { failure = errno; return }
                done += n
            }
        }
        close(fd)
        if failure == 0, rename(temporary, path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(temporary)
            throw EmulatorError("write \(path): \(String(cString: strerror(failure)))")
        }
    }

    static func digest(_ text: String) -> String {
        SpoolFile.hex(SHA256.hash(data: Array(text.utf8)))
    }
}

struct EmulatorError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
