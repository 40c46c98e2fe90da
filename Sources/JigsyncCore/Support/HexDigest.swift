import Crypto

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal, two digits a byte: how a SHA-256 is written in the ledger, in
    /// `status` and by the API. Built from a table in one allocation (once per upload, so no
    /// format strings).
    var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension SHA256.Digest {
    /// The digest as lowercase hexadecimal.
    var hexString: String { withUnsafeBytes { $0.hexString } }
}
