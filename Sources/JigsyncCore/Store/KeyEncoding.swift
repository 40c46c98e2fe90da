/// Percent-encoding of storage keys and query values for the wire.
///
/// Keys may hold `/` (the docs' `uploads/meeting_recording.mp3`), which stays a path separator;
/// every other byte outside RFC 3986's unreserved set is encoded from its UTF-8 form, so spaces,
/// `?`, `#`, `%`, `+` and non-ASCII letters all reach the server as the same key.
enum KeyEncoding {
    /// Encodes a key for use after `/read/` in a URL path.
    static func pathComponent(_ key: String) -> String {
        encode(key, keeping: UInt8(ascii: "/"))
    }

    /// Encodes a value for a query string (`/` encoded too).
    static func queryValue(_ value: String) -> String {
        encode(value, keeping: nil)
    }

    private static func encode(_ text: String, keeping extra: UInt8?) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) || byte == extra {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
