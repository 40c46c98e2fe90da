import Foundation

/// A successful upload: what the server said and what was actually sent.
public struct UploadResult: Sendable {
    /// The key the file is stored under (the server's choice when none was given).
    public let key: String
    /// The URL the server gave for reading it.
    public let url: String?
    /// The size the server reported.
    public let size: Int64?
    /// The temporary public URL, when asked for.
    public let temporaryPublicURL: String?
    /// Bytes sent and their SHA-256 in hex: the content the remote copy now has.
    public let sentBytes: Int64
    public let sentSHA256: String
    /// The rate-limit headers of the answer, when present.
    public let rateLimit: RateLimitStatus?
    /// The server's JSON answer as received, for `jigsync put` to print.
    public let responseBody: Data
    /// When the answer said the rate-limit window is used up: how long until it resets.
    public let rateLimitWait: Duration?
    /// What `upload(_:options:progress:checkingAfterAnswer:)`'s check saw as the answer arrived
    /// (nil when not asked for, or when it saw nothing there).
    public var checkedAfterAnswer: FileStat? = nil
}

/// A successful read.
public struct DownloadResult: Sendable {
    public let bytes: Int64
    /// SHA-256 in hex of the bytes received.
    public let sha256: String
    public let contentType: String?
}

/// The `x-jigsaw-rate-limit-*` headers of an answer.
public struct RateLimitStatus: Sendable, Equatable {
    public let limit: Int
    public let remaining: Int
    /// When the window resets, in Unix milliseconds on the server's clock.
    public let resetMilliseconds: Int64

    init?(headers: [String: String]) {
        guard let limit = headers["x-jigsaw-rate-limit-limit"].flatMap({ Int($0) }),
              let remaining = headers["x-jigsaw-rate-limit-remaining"].flatMap({ Int($0) }) else { return nil }
        self.limit = limit
        self.remaining = remaining
        self.resetMilliseconds = headers["x-jigsaw-rate-limit-reset"].flatMap { Int64($0) } ?? 0
    }
}
