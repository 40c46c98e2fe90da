import Crypto
import Foundation

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
}

/// The emulator's storage: a directory of objects that survives restarts.
///
/// Layout under `root`: `objects/<sha256 of key>` holds the bytes, `objects/<…>.json` the
/// metadata; `incoming/` holds bodies still arriving. A body is renamed into `objects/` only
/// once it arrived whole, so a cut-off upload leaves nothing behind. The actor serializes
/// every change to the index and to the directory.
actor ObjectStore {
    enum CommitOutcome {
        case stored(StoredObject)
        case exists
    }

    let root: URL
    /// By the key's UTF-8 bytes, as the service keeps keys: `String` equality would make `café`
    /// in NFC and in NFD one key, and one upload would overwrite the other.
    private var index: [[UInt8]: StoredObject] = [:]

    init(root: URL) throws {
        self.root = root
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
        root.appending(path: "incoming").appending(path: UUID().uuidString).path
    }

    func object(for key: String) -> StoredObject? { index[Array(key.utf8)] }

    func exists(_ key: String) -> Bool { index[Array(key.utf8)] != nil }

    /// The path of the bytes stored under `key`.
    nonisolated func blobPath(for key: String) -> String {
        root.appending(path: "objects").appending(path: Self.digest(key)).path
    }

    /// Moves a complete body into place under `key`.
    func commit(key: String, bodyPath: String, size: Int64, sha256: String, contentType: String, overwrite: Bool) throws -> CommitOutcome {
        if index[Array(key.utf8)] != nil, !overwrite {
            unlink(bodyPath)
            return .exists
        }
        let writes = (index[Array(key.utf8)]?.writes ?? 0) + 1
        let object = StoredObject(key: key, size: size, sha256: sha256, contentType: contentType, writes: writes, updatedAt: Date())
        let blob = blobPath(for: key)
        guard rename(bodyPath, blob) == 0 else {
            throw EmulatorError("rename into \(blob): \(String(cString: strerror(errno)))")
        }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(object).write(to: URL(fileURLWithPath: blob + ".json"), options: .atomic)
        index[Array(key.utf8)] = object
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

    static func digest(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

struct EmulatorError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
