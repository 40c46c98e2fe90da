import Glibc

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
        // Every dictionary lookup by a path ends here: lengths first (stored in a native
        // string), then one memcmp; `elementsEqual` stepped through the views a byte at a time.
        guard lhs.string.utf8.count == rhs.string.utf8.count else { return false }
        return compare(lhs.string, rhs.string) { a, b in
            a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
        }
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
        compare(lhs.string, rhs.string) { a, b in
            let common = min(a.count, b.count)
            let order = common == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, common)
            return order != 0 ? order < 0 : a.count < b.count
        }
    }

    /// `body` on the UTF-8 bytes of both strings (in place for native strings, which every path
    /// read from the system or the ledger is; a bridged one is copied first).
    private static func compare(_ lhs: String, _ rhs: String,
                                _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        var lhs = lhs, rhs = rhs   // withUTF8 is mutating; a native string is not copied
        return lhs.withUTF8 { a in rhs.withUTF8 { b in body(a, b) } }
    }

    public var description: String { string }
}
