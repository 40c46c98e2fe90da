extension String {
    /// The text with its control characters escaped, as `ls -b` (`--quoting-style=escape`)
    /// prints names: for putting a path, a key, or a message holding one on a line of a log or
    /// of `status`.
    ///
    /// A file name may hold any byte but `/` and NUL, newlines and tabs included. Printed raw,
    /// `a\n<13>jigsync: uploaded x` splits a log line and forges the next one, and a tab adds a
    /// column to a `status` row. Escaped, every name is one unambiguous token on its line:
    /// `\\` for a backslash (so an escape cannot be forged either), `\n`, `\t`, `\r`, `\a`,
    /// `\b`, `\f`, `\v`, and three-digit octal for every other byte of a control character (C0,
    /// DEL, C1 such as U+0085 NEL) and of the Unicode line and paragraph separators, which some
    /// viewers break lines at. Printable text (spaces, letters of any script) is kept as is, so
    /// names stay readable; JSON output is exact and never uses this.
    public var escapedForDisplay: String {
        guard unicodeScalars.contains(where: Self.needsEscape) else { return self }
        var out = ""
        out.reserveCapacity(utf8.count + 8)
        for scalar in unicodeScalars {
            guard Self.needsEscape(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            default:
                for byte in String(scalar).utf8 {
                    let octal = String(byte, radix: 8)
                    out += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
                }
            }
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x5C, 0x7F...0x9F, 0x2028, 0x2029: true
        default: false
        }
    }
}
