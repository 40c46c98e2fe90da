import Glibc

/// Include and exclude globs (`fnmatch(3)`), matched against a file's name and its relative path.
///
/// A file is excluded when it matches an exclude pattern, or when include patterns exist and it
/// matches none. Editors' and browsers' temporary files are excluded by default: they are
/// renamed or deleted moments later, and uploading them would only cost requests.
public struct PathFilter: Sendable, Equatable {
    public static let defaultExcludes = [".*.swp", ".*.swx", "*~", ".#*", "4913", "*.tmp", "*.part", "*.crdownload", ".~lock.*#"]

    public var includes: [String]
    public var excludes: [String]

    public init(includes: [String] = [], excludes: [String] = PathFilter.defaultExcludes) {
        self.includes = includes
        self.excludes = excludes
    }

    /// Why `relativePath` is excluded, or nil when it is synced.
    public func exclusionReason(_ relativePath: String) -> String? {
        let name = Self.name(relativePath)
        if let pattern = excludes.first(where: { Self.matches($0, name: name, path: relativePath) }) {
            return "matches the exclude pattern \(pattern)"
        }
        if !includes.isEmpty && !includes.contains(where: { Self.matches($0, name: name, path: relativePath) }) {
            return "matches no include pattern"
        }
        return nil
    }

    /// Whether `pattern` matches the file at `path` (by its name, or its path for a pattern with a `/`).
    public static func matches(_ pattern: String, path: String) -> Bool {
        matches(pattern, name: name(path), path: path)
    }

    /// The last component of `path`. (Byte searches: `String.contains(String)` and `split` go
    /// through Foundation's bridging or build arrays, once per pattern per file of every walk.)
    private static func name(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[path.utf8.index(after: slash)...])
    }

    private static func matches(_ pattern: String, name: String, path: String) -> Bool {
        // A pattern with a slash is about the path (`*` does not cross `/`); without one, the name.
        pattern.utf8.contains(UInt8(ascii: "/")) ? fnmatch(pattern, path, FNM_PATHNAME) == 0 : fnmatch(pattern, name, 0) == 0
    }
}
