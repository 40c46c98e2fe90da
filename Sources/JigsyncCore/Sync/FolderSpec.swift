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

    public init(path: String, prefix: String = "", filter: PathFilter = PathFilter()) {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.path = path
        self.prefix = Self.normalize(prefix: prefix)
        self.filter = filter
    }

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
