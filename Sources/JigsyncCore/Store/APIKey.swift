/// The secret JigsawStack API key.
///
/// It is sent only as the `x-api-key` header. Every textual form of this type is redacted,
/// so interpolating it into a log line or an error message cannot leak it.
public struct APIKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The key itself; read it only to put it on the wire.
    public let secret: String

    /// Wraps a key; surrounding white space (a trailing newline in a credentials file) is dropped.
    public init?(_ secret: String) {
        let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        self.secret = trimmed
    }

    public var description: String { "<redacted API key>" }
    public var debugDescription: String { description }

    /// Replaces every occurrence of the secret in `text`, for messages that quote a server or curl.
    public func redact(_ text: String) -> String {
        text.replacingOccurrences(of: secret, with: "<redacted>")
    }
}
