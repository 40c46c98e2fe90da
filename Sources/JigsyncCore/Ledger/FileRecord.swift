/// Where a file stands.
public enum FileState: String, Sendable, CaseIterable, Codable {
    /// Due for upload (new, changed, or retrying after a passing failure).
    case pending
    /// Being sent now (a crash leaves it here; the next owner puts it back to pending).
    case uploading
    /// The remote copy has the content recorded in `uploadedSHA256`.
    case uploaded
    /// Refused for a reason only a change to the file can fix (too large, rejected by the service).
    case failed
    /// Left out by an include/exclude pattern.
    case excluded
    /// Not a candidate: not a regular file, a symlink, a name that is not UTF-8.
    case skipped
    /// Gone from the folder, and the delete policy owes the service a delete of its remote copy:
    /// sent by the scheduler with backoff (it survives a restart), held by the mass-delete guard
    /// until `jigsync retry --deletes`, and undone if the file comes back.
    case deleting
    /// Gone from the folder (and, with the delete policy, from the store).
    case deleted
}

/// One ledger row: a path in a folder, its key, what was seen of it and where it stands.
public struct FileRecord: Sendable, Equatable {
    public var folder: String
    public var path: String
    public var key: String
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var ctimeNanoseconds: Int64
    public var inode: UInt64
    public var device: UInt64
    /// SHA-256 of the content last examined, when it was hashed.
    public var sha256: String?
    public var contentType: String?
    public var state: FileState
    /// Why it is failed, excluded or skipped; the last transient error while pending.
    public var lastError: String?
    public var lastHTTPStatus: Int?
    public var attempts: Int
    /// When the next attempt is due, Unix milliseconds (for people; scheduling is monotonic).
    public var nextAttemptAt: Int64?
    public var remoteURL: String?
    /// SHA-256 and size of the bytes the remote copy has.
    public var uploadedSHA256: String?
    public var uploadedSize: Int64?
    /// Unix milliseconds of the last successful upload.
    public var uploadedAt: Int64?
    /// An upload went out whose outcome was not recorded as stored (it failed, was cut off, or
    /// the file changed under it): the store may hold some version under the key, so a delete
    /// policy owes a delete even when `uploadedSHA256` is nil. Cleared when an upload is recorded.
    public var unconfirmedSend = false
    /// Whether the store may hold a copy under this row's key.
    public var mayBeStored: Bool { uploadedSHA256 != nil || unconfirmedSend }

    /// Takes what the store holds (its URL, `uploaded_sha256`, size and time, `unconfirmed_send`)
    /// from `other`, a newer row of the same path: only the worker that talked to the store knows it.
    public mutating func takeStoredState(from other: FileRecord) {
        remoteURL = other.remoteURL
        uploadedSHA256 = other.uploadedSHA256
        uploadedSize = other.uploadedSize
        uploadedAt = other.uploadedAt
        unconfirmedSend = other.unconfirmedSend
    }
    /// Wall-clock nanoseconds when the stat above was taken (the racily-clean rule compares it
    /// with the file's own times).
    public var examinedAt: Int64

    public init(folder: String, path: String, key: String, stat: FileStat, state: FileState, examinedAt: Int64) {
        self.folder = folder
        self.path = path
        self.key = key
        self.size = stat.size
        self.mtimeNanoseconds = stat.mtimeNanoseconds
        self.ctimeNanoseconds = stat.ctimeNanoseconds
        self.inode = stat.inode
        self.device = stat.device
        self.state = state
        self.attempts = 0
        self.examinedAt = examinedAt
    }

    /// Records a new stat of the file.
    public mutating func update(stat: FileStat, examinedAt: Int64) {
        size = stat.size
        mtimeNanoseconds = stat.mtimeNanoseconds
        ctimeNanoseconds = stat.ctimeNanoseconds
        inode = stat.inode
        device = stat.device
        self.examinedAt = examinedAt
    }

    /// The stat recorded in the row.
    public var stat: FileStat {
        FileStat(kind: .regular, size: size, mtimeNanoseconds: mtimeNanoseconds, ctimeNanoseconds: ctimeNanoseconds,
                 inode: inode, device: device)
    }

    /// Whether `stat` shows the file as it was recorded (size, times, identity).
    public func matches(_ stat: FileStat) -> Bool {
        size == stat.size && mtimeNanoseconds == stat.mtimeNanoseconds && ctimeNanoseconds == stat.ctimeNanoseconds
            && inode == stat.inode && device == stat.device
    }

    /// Git's "racily clean" rule: a change within `window` before the examination may have been
    /// followed by another in the same clock tick that the times cannot show, so the stat cannot
    /// vouch for the content.
    public func isRacy(window: Int64 = FileRecord.racyWindowNanoseconds) -> Bool {
        max(mtimeNanoseconds, ctimeNanoseconds) + window >= examinedAt
    }

    /// File times come from the kernel's coarse clock, which ticks every 1–10 ms (HZ 1000 to 100);
    /// 20 ms covers the slowest tick with margin.
    public static let racyWindowNanoseconds: Int64 = 20_000_000
}
