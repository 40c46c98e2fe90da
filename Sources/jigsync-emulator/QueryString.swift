/// A URL query string, decoded as HTML forms encode it (`+` is a space), which is how both
/// Python's `urlencode` and jigsync send options. A bare `?key` (the Python SDK's DELETE) is a
/// name with an empty value.
struct QueryString {
    private var values: [String: String] = [:]

    init(_ query: String?) {
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.percentDecode(String(parts[0]), plusIsSpace: true)
            let value = parts.count > 1 ? Self.percentDecode(String(parts[1]), plusIsSpace: true) : ""
            values[name] = value
        }
    }

    subscript(name: String) -> String? { values[name] }

    /// A boolean option: `true`, `1` or `yes`, in any case.
    func flag(_ name: String) -> Bool {
        guard let value = values[name]?.lowercased() else { return false }
        return value == "true" || value == "1" || value == "yes"
    }

    /// Decodes `%XX` escapes (as UTF-8) and, in queries, `+`; a malformed escape is kept as it is.
    static func percentDecode(_ text: String, plusIsSpace: Bool) -> String {
        // Most names and values (every key jigsync sends without spaces) have nothing to decode.
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else { return text }
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var i = 0
        while i < utf8.count {
            let byte = utf8[i]
            if byte == UInt8(ascii: "%"), i + 2 < utf8.count, let high = hexValue(utf8[i + 1]), let low = hexValue(utf8[i + 2]) {
                bytes.append(high << 4 | low)
                i += 3
                continue
            }
            bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
