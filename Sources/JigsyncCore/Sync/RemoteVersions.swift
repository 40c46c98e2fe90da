import Foundation

/// One stored version of a file, as the ledger lists it.
public struct StoredVersion: Sendable, Equatable {
    public var folder: String
    public var path: String
    /// `PREFIX.versions/PATH/TIMESTAMP-SHA8`.
    public var key: String
    public var sha256: String
    public var size: Int64
    /// Unix milliseconds when it was stored.
    public var storedAt: Int64

    /// `TIMESTAMP-SHA8`, the name `jigsync restore --version` takes.
    public var name: String { String(key.split(separator: "/").last ?? "") }
}

/// Remote versions (`versions: N` per folder): each content stored under a file's key is also
/// stored under `PREFIX.versions/PATH/TIMESTAMP-SHA8`, listed in the ledger's `versions` table,
/// and only the newest N are kept (older ones deleted through the rate limiter).
///
/// `@unchecked Sendable`: `policy` is guarded by `lock` (set by the planner, read by workers).
public final class RemoteVersions: @unchecked Sendable {
    private let lock = NSLock()
    private var policy: [FolderID: (keep: Int, prefix: String)] = [:]

    /// Sets how many versions each folder keeps, and under which prefix (at start and on reloads).
    func setPolicy(_ specs: [FolderSpec]) {
        lock.withLock {
            policy = Dictionary(specs.filter { $0.versions > 0 }.map { ($0.id, ($0.versions, $0.versionPrefix)) },
                                uniquingKeysWith: { first, _ in first })
        }
    }

    /// How many versions `folder` keeps, and its version prefix; nil when it keeps none.
    func policy(for folder: FolderID) -> (keep: Int, prefix: String)? { lock.withLock { policy[folder] } }

    /// The key of the version of `path` with content `sha256`, stored at `milliseconds`.
    static func key(prefix: String, path: String, sha256: String, at milliseconds: Int64) -> String {
        var time = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&time, &parts)
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                           parts.tm_hour, parts.tm_min, parts.tm_sec)
        return prefix + path + "/" + stamp + "-" + sha256.prefix(8)
    }
}

extension Uploader {
    /// Deletes a stored key; nil when it is gone (a 404 included), else why not.
    private func deleteRemote(_ key: String) async -> StoreError? {
        do {
            try await engine.client.delete(key: key)
            return nil
        } catch {
            return error.status == 404 ? nil : error
        }
    }

    /// After `record` was stored: stores the same content as a version when its folder keeps
    /// versions, then deletes the versions beyond the newest N. A version that cannot be stored
    /// now is logged and skipped (the file's own key holds the content; the next change makes a
    /// new version); a delete that fails is retried at the next version of the file.
    func keepVersion(of record: FileRecord, folder: Folder) async {
        guard let policy = engine.versions.policy(for: FolderID(record.folder)),
              let sha256 = record.uploadedSHA256, let storedAt = record.uploadedAt else { return }
        let keep = policy.keep, prefix = policy.prefix
        let key = RemoteVersions.key(prefix: prefix, path: record.path, sha256: sha256, at: storedAt)
        let relative = record.path
        do {
            let file = try await FSQueue.run { () throws(FSError) in try folder.openForReading(relative) }
            try await engine.limiter.acquire()
            let options = FileStoreClient.UploadOptions(key: key, overwrite: true, contentType: record.contentType)
            let result = try await engine.client.upload(file, options: options)
            guard result.sentSHA256 == sha256 else {
                // Changed since it was stored: this is not the stored content. Its next upload makes a version.
                try? await engine.client.delete(key: key)
                return
            }
            try await engine.ledger.saveVersion(StoredVersion(folder: record.folder, path: record.path, key: key, sha256: sha256,
                                                              size: result.sentBytes, storedAt: storedAt))
        } catch {
            engine.logger.warning("\(record.folder)/\(record.path): version \(key) not stored: \(error)")
            return
        }
        guard let versions = try? await engine.ledger.versions(folder: record.folder, path: record.path) else { return }
        for old in versions.dropFirst(keep) {
            guard (try? await engine.limiter.acquire()) != nil else { return }
            let problem = await deleteRemote(old.key)
            if let problem {
                engine.logger.warning("old version \(old.key) not deleted yet (retried at the next version): \(problem)")
            } else {
                try? await engine.ledger.deleteVersion(key: old.key)
            }
        }
    }
}
