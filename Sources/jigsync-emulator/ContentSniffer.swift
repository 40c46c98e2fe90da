import Foundation

/// The content type stored for an upload: the one declared, or one detected from the first
/// bytes when the client sent none or the generic `application/octet-stream` (the service
/// detects types the same way).
enum ContentSniffer {
    /// How many first bytes the detection looks at.
    static let headLength = 512

    static func type(declared: String?, fileAt path: String) -> String {
        if let declared = usable(declared) { return declared }
        guard let handle = FileHandle(forReadingAtPath: path) else { return "application/octet-stream" }
        defer { try? handle.close() }
        return detect(head: (try? handle.read(upToCount: headLength)) ?? Data(), declared: declared)
    }

    /// The same answer for a body whose first `headLength` bytes (or all, if shorter) are `head`:
    /// a raw upload's spool keeps them, so its file need not be opened again.
    static func type(declared: String?, head: Data) -> String {
        usable(declared) ?? detect(head: head, declared: declared)
    }

    private static let signatures: [(bytes: [UInt8], type: String)] = [
        ([0x89, 0x50, 0x4E, 0x47], "image/png"), ([0xFF, 0xD8, 0xFF], "image/jpeg"),
        (Array("GIF8".utf8), "image/gif"), (Array("%PDF".utf8), "application/pdf"),
        ([0x50, 0x4B, 0x03, 0x04], "application/zip"), ([0x1F, 0x8B], "application/gzip"),
    ]

    private static func usable(_ declared: String?) -> String? {
        guard let declared, !declared.isEmpty, declared.lowercased() != "application/octet-stream" else { return nil }
        return declared
    }

    private static func detect(head: Data, declared: String?) -> String {
        for signature in signatures where head.starts(with: signature.bytes) { return signature.type }
        if head.isEmpty { return declared ?? "application/octet-stream" }
        if String(data: head, encoding: .utf8) != nil, !head.contains(0) { return "text/plain" }
        return "application/octet-stream"
    }
}
