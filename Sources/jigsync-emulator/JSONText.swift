import Foundation

/// A JSON object written field by field, byte for byte as Foundation writes the same values.
///
/// The emulator writes one answer and one metadata file per upload; `JSONSerialization` over a
/// `[String: Any]` spent more CPU in dynamic casts than the upload's hashing, and `JSONEncoder`
/// goes through `Codable` containers. The values written here are only strings, integers,
/// booleans and dates, so the output is easy to match exactly: `JSONSerialization` escapes
/// `"`, `\`, `\b \t \n \f \r` by name and the other control characters as `\u00xx`, writes
/// every other character as UTF-8, and escapes `/` unless told not to.
struct JSONText {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]
    private let escapesSlashes: Bool

    /// - Parameter escapingSlashes: write `/` as `\/`, as `JSONEncoder` does by default
    ///   (the answers are written with `.withoutEscapingSlashes`, the metadata files without it).
    init(escapingSlashes: Bool) {
        escapesSlashes = escapingSlashes
        bytes.reserveCapacity(256)
    }

    mutating func field(_ name: String, _ value: String) {
        open(name)
        appendString(value)
    }

    mutating func field(_ name: String, _ value: Int64) {
        open(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ name: String, _ value: Bool) {
        open(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// A date as `JSONEncoder`'s `.iso8601` strategy writes it: UTC, whole seconds (truncated).
    mutating func field(_ name: String, _ value: Date) {
        open(name)
        var seconds = time_t(value.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let text = "\(Self.digits(Int(parts.tm_year) + 1900, 4))-\(Self.digits(Int(parts.tm_mon) + 1, 2))-\(Self.digits(Int(parts.tm_mday), 2))"
            + "T\(Self.digits(Int(parts.tm_hour), 2)):\(Self.digits(Int(parts.tm_min), 2)):\(Self.digits(Int(parts.tm_sec), 2))Z"
        appendString(text)
    }

    /// The finished object.
    var data: Data {
        var whole = bytes
        whole.append(UInt8(ascii: "}"))
        return Data(whole)
    }

    private mutating func open(_ name: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func appendString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "/") where escapesSlashes: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "/")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `value` in decimal, zero-padded to `width`.
    private static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
