/// A folder's identity: the absolute path of its root, which is what every ledger row of the
/// folder carries (`files.folder`). Watch batches, plans and jobs name a folder by it, never by
/// its position in a list, so a reload that adds or removes folders cannot send one folder's
/// events to another.
public struct FolderID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The folder's root, as recorded in the ledger.
    public let path: String
    public init(_ path: String) { self.path = path }
    public var description: String { path }

    // By bytes, as every path (see `PathBytes`).
    public static func == (lhs: FolderID, rhs: FolderID) -> Bool { PathBytes(lhs.path) == PathBytes(rhs.path) }
    public func hash(into hasher: inout Hasher) { hasher.combine(PathBytes(path)) }
}

/// A folder to sync: where it is, the key prefix of its files, and which files it leaves out.
public struct FolderSpec: Sendable, Equatable {
    /// Absolute path of the folder root, without a trailing slash.
    public var path: String
    /// Prepended to each relative path to form its key; empty or ending in `/`.
    public var prefix: String
    public var filter: PathFilter
    /// This folder's delete policy when it differs from the daemon's (`on_delete` in the file).
    public var deletesRemote: Bool?
    /// May be missing at start; watched once it appears.
    public var optional = false
    /// How many stored versions of each file to keep (`versions: N`); 0 keeps none.
    public var versions = 0

    /// Where versions of this folder's files are stored: the prefix without its slash, then
    /// `.versions/` (`reports/` → `reports.versions/`), so they never fall under the folder's own keys.
    public var versionPrefix: String { Self.versionPrefix(for: prefix) }

    static func versionPrefix(for prefix: String) -> String {
        (prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix) + ".versions/"
    }

    /// The action run after each stored version (and remote delete) of a file: argv, no shell.
    public var onUpload: [String]?

    public init(path: String, prefix: String = "", filter: PathFilter = PathFilter()) {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.path = path
        self.prefix = Self.normalize(prefix: prefix)
        self.filter = filter
    }

    /// The folder's identity in the ledger, in watch batches and in plans.
    public var id: FolderID { FolderID(path) }

    /// The key of a file at `relativePath`.
    public func key(for relativePath: String) -> String { prefix + relativePath }

    /// A prefix names a folder in the store: `photos` and `photos/` both give `photos/…` keys.
    static func normalize(prefix: String) -> String {
        var prefix = prefix
        while prefix.hasPrefix("/") { prefix.removeFirst() }
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
        return prefix
    }
}
