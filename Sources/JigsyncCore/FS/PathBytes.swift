/// A path (or key) compared, hashed and ordered by its UTF-8 bytes.
///
/// Swift's `String` equality is canonical equivalence: `café` spelled with U+00E9 (NFC) and with
/// `e` + U+0301 (NFD) are equal `String`s, yet the kernel keeps them as two names, SQLite as two
/// rows and the service as two keys. A dictionary or set keyed by `String` merges them, and one
/// file's bytes end up under the other's key. Every dictionary and set keyed by a path uses this
/// instead. (A `String` keeps the scalars it was made from, so the bytes are the name's own.)
public struct PathBytes: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The path as text, exactly as it was given.
    public let string: String

    public init(_ string: String) { self.string = string }

    public static func == (lhs: PathBytes, rhs: PathBytes) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var text = string   // withUTF8 is mutating; a native string is not copied
        text.withUTF8 { bytes in
            hasher.combine(bytes.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        }
    }

    /// Bytewise, as SQLite orders TEXT, so listings sort the same from either side.
    public static func < (lhs: PathBytes, rhs: PathBytes) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    public var description: String { string }
}
