import Glibc

/// Include and exclude globs (`fnmatch(3)`), matched against a file's name and its relative path.
///
/// A file is excluded when it matches an exclude pattern, or when include patterns exist and it
/// matches none. Editors' and browsers' temporary files are excluded by default: they are
/// renamed or deleted moments later, and uploading them would only cost requests.
public struct PathFilter: Sendable, Equatable {
    public static let defaultExcludes = [".*.swp", ".*.swx", "*~", ".#*", "4913", "*.tmp", "*.part", "*.crdownload", ".~lock.*#"]

    public var includes: [String] { didSet { compiledIncludes = includes.map(Pattern.init) } }
    public var excludes: [String] { didSet { compiledExcludes = excludes.map(Pattern.init) } }
    /// The patterns as `fnmatch` takes them, made once: passing a Swift `String` where C wants
    /// a `char *` copies it into a new array, and every file of a walk is tested against every
    /// pattern (two such copies each: ~16 % of a plan's instructions).
    private var compiledIncludes: [Pattern]
    private var compiledExcludes: [Pattern]

    public init(includes: [String] = [], excludes: [String] = PathFilter.defaultExcludes) {
        self.includes = includes
        self.excludes = excludes
        compiledIncludes = includes.map(Pattern.init)
        compiledExcludes = excludes.map(Pattern.init)
    }

    public static func == (lhs: PathFilter, rhs: PathFilter) -> Bool {
        lhs.includes == rhs.includes && lhs.excludes == rhs.excludes
    }

    /// Why `relativePath` is excluded, or nil when it is synced.
    public func exclusionReason(_ relativePath: String) -> String? {
        Self.withCStrings(relativePath) { pathC, nameC -> String? in
            if let pattern = compiledExcludes.first(where: { $0.matches(name: nameC, path: pathC) }) {
                return "matches the exclude pattern \(pattern.text)"
            }
            if !compiledIncludes.isEmpty && !compiledIncludes.contains(where: { $0.matches(name: nameC, path: pathC) }) {
                return "matches no include pattern"
            }
            return nil
        }
    }

    /// Whether `pattern` matches the file at `path` (by its name, or its path for a pattern with a `/`).
    public static func matches(_ pattern: String, path: String) -> Bool {
        let compiled = Pattern(pattern)
        return withCStrings(path) { compiled.matches(name: $1, path: $0) }
    }

    /// `body` with `path` as a C string and its last component (a suffix of it, so no copy).
    /// (`withCString` lends a native string's own bytes.)
    private static func withCStrings<T>(_ path: String, _ body: (_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>) -> T) -> T {
        path.withCString { pathC in
            body(pathC, strrchr(pathC, Int32(UInt8(ascii: "/"))).map { UnsafePointer($0 + 1) } ?? pathC)
        }
    }

    /// One glob, with the C string `fnmatch` reads and whether it is about the path.
    private struct Pattern: Sendable {
        let text: String
        let cString: [CChar]
        /// A pattern with a slash is about the path (`*` does not cross `/`); without one, the name.
        let isAboutPath: Bool

        init(_ text: String) {
            self.text = text
            cString = Array(text.utf8CString)
            isAboutPath = text.utf8.contains(UInt8(ascii: "/"))
        }

        func matches(name: UnsafePointer<CChar>, path: UnsafePointer<CChar>) -> Bool {
            cString.withUnsafeBufferPointer { pattern in
                isAboutPath ? fnmatch(pattern.baseAddress!, path, FNM_PATHNAME) == 0 : fnmatch(pattern.baseAddress!, name, 0) == 0
            }
        }
    }
}
