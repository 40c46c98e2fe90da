import Foundation

/// The JSON of a successful upload: what the client reads of it.
struct UploadAnswer: Decodable, Equatable {
    var key: String?
    var url: String?
    var size: Int64?
    var temp_public_url: String?

    /// The answer from `body`, read directly when it is a plain object, else by `JSONDecoder`
    /// (which throws what it throws for a body that is not the JSON expected).
    static func decode(_ body: Data) throws -> UploadAnswer {
        if let plain = plain(body) { return plain }
        return try JSONDecoder().decode(UploadAnswer.self, from: body)
    }

    /// The answer when `body` is a plain object: ASCII names and strings without escapes, integer
    /// sizes, members of no other kind than strings, integers, `true`, `false` and `null`, no
    /// name twice. Anything else is nil, for `JSONDecoder` to read (or refuse): on what it reads,
    /// this gives exactly what `JSONDecoder` gives (the fuzz probe of server answers holds it to
    /// that). Every upload's answer is read here; `JSONDecoder` took 28,000 instructions for it.
    static func plain(_ body: Data) -> UploadAnswer? {
        body.withUnsafeBytes { raw -> UploadAnswer? in
            var reader = PlainObjectReader(bytes: raw.bindMemory(to: UInt8.self))
            return reader.answer()
        }
    }
}

/// The byte reader behind `UploadAnswer.plain`.
private struct PlainObjectReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    private enum Value {
        case text(String)
        case integer(Int64)
        case null
        case boolean
    }

    mutating func answer() -> UploadAnswer? {
        var answer = UploadAnswer()
        var seen: [String] = []
        skipSpace()
        guard take(0x7B) else { return nil }   // {
        skipSpace()
        if take(0x7D) { return atEnd() ? answer : nil }   // }
        while true {
            guard let name = string() else { return nil }
            guard !seen.contains(name) else { return nil }
            seen.append(name)
            skipSpace()
            guard take(0x3A) else { return nil }   // :
            skipSpace()
            guard let value = value() else { return nil }
            switch (name, value) {
            case ("key", .text(let text)): answer.key = text
            case ("url", .text(let text)): answer.url = text
            case ("temp_public_url", .text(let text)): answer.temp_public_url = text
            case ("size", .integer(let size)): answer.size = size
            case ("key", .null), ("url", .null), ("temp_public_url", .null), ("size", .null): break
            case ("key", _), ("url", _), ("temp_public_url", _), ("size", _): return nil   // of another kind
            default: break   // a member the client does not read
            }
            skipSpace()
            if take(0x2C) { skipSpace(); continue }   // ,
            guard take(0x7D) else { return nil }   // }
            return atEnd() ? answer : nil
        }
    }

    private mutating func value() -> Value? {
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case 0x22: return string().map { .text($0) }
        case 0x74: return word("true") ? .boolean : nil
        case 0x66: return word("false") ? .boolean : nil
        case 0x6E: return word("null") ? .null : nil
        case 0x2D, 0x30...0x39: return integer().map { .integer($0) }
        default: return nil
        }
    }

    /// A string of printable ASCII without escapes; the reader is past its closing quote.
    private mutating func string() -> String? {
        guard take(0x22) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x22 {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return text
            }
            guard byte >= 0x20, byte < 0x7F, byte != 0x5C else { return nil }   // control, non-ASCII, backslash
            index += 1
        }
        return nil
    }

    /// `-`? then `0` or 1 to 18 digits not starting with 0, not followed by a fraction or exponent.
    private mutating func integer() -> Int64? {
        let negative = take(0x2D)
        guard index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 else { return nil }
        var value: Int64 = 0, digits = 0
        if bytes[index] == 0x30 {
            index += 1
            digits = 1
        } else {
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                guard digits < 18 else { return nil }
                value = value * 10 + Int64(bytes[index] - 0x30)
                digits += 1
                index += 1
            }
        }
        if index < bytes.count {
            switch bytes[index] {
            case 0x2E, 0x65, 0x45, 0x30...0x39: return nil   // a fraction, an exponent, or a leading zero
            default: break
            }
        }
        return negative ? -value : value
    }

    private mutating func word(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] { return false }
        index += count
        return true
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D {
            index += 1
        }
    }

    private mutating func atEnd() -> Bool {
        skipSpace()
        return index == bytes.count
    }
}
