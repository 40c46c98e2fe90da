/// A request to the File Storage API that did not succeed, classified by what to do next.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What the caller should do about the failure.
    public enum Disposition: String, Sendable {
        /// A passing problem (network, timeout, 408, 429, 5xx, garbage from the server): try again later.
        case retryLater = "retry-later"
        /// The file itself is refused (413 too large, 400 other than "exists"): it fails until it changes.
        case fixFile = "fix-file"
        /// The key exists and overwrite was not asked for (400 "exists").
        case conflict
        /// The service rejected the key or the endpoint (401, 403, 404 from the upload endpoint):
        /// every request will fail the same way, so pause rather than fail files.
        case fixConfiguration = "fix-configuration"
        /// The file changed size or content while it was being sent; send it again.
        case fileChanged = "file-changed"
        /// The server answered 200, but not for what was asked: it answered before every declared
        /// byte was sent, or named another key or size than the one sent. Nothing says the service
        /// holds these bytes under this key, so the upload is not recorded; try again later.
        case unconfirmed
        /// The key asked for does not exist (read or delete answered 404).
        case notFound = "not-found"
        /// The request was cancelled by the caller.
        case cancelled
        /// Never sent: an upload before it in the same chain got no answer (the service may be
        /// unreachable), so the rest of the chain was not tried. Due again as it was.
        case notSent = "not-sent"
    }

    /// What to do next.
    public let disposition: Disposition
    /// The HTTP status, when the server answered.
    public let status: Int?
    /// A one-line reason: the server's `message`, or what went wrong on the way.
    public let message: String
    /// The wait the server asked for (`Retry-After` or the rate-limit reset), when it did.
    public let retryAfter: Duration?

    public init(_ disposition: Disposition, status: Int? = nil, message: String, retryAfter: Duration? = nil) {
        self.disposition = disposition
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    /// Whether trying the same request again later may succeed.
    public var isTransient: Bool {
        disposition == .retryLater || disposition == .fileChanged || disposition == .unconfirmed || disposition == .notSent
    }

    public var description: String {
        var text = status.map { "HTTP \($0): \(message)" } ?? message
        if let retryAfter {
            let seconds = Double(retryAfter.components.seconds) + Double(retryAfter.components.attoseconds) / 1e18
            text += " (server asked to wait \(String(format: "%.1f", seconds)) s)"
        }
        return text
    }
}

extension StoreError {
    /// The operation a status code answered, since the same code means different things per endpoint.
    enum Operation: Sendable {
        case upload, read, delete
    }

    /// Classifies an HTTP answer other than 200.
    static func classify(status: Int, operation: Operation, serverMessage: String, retryAfter: Duration?) -> StoreError {
        switch status {
        case 408, 429, 500...599:
            return StoreError(.retryLater, status: status, message: serverMessage, retryAfter: retryAfter)
        case 400 where serverMessage.lowercased().contains("exist"):
            return StoreError(.conflict, status: status, message: serverMessage)
        case 401, 403:
            return StoreError(.fixConfiguration, status: status,
                              message: "the service rejected the API key (\(serverMessage)); check JIGSAWSTACK_API_KEY")
        case 404 where operation == .upload, 405 where operation == .upload:
            return StoreError(.fixConfiguration, status: status,
                              message: "the upload endpoint was not found (\(serverMessage)); check JIGSAWSTACK_API_URL")
        case 404:
            return StoreError(.notFound, status: status, message: serverMessage)
        case 300...399:
            return StoreError(.fixConfiguration, status: status,
                              message: "the endpoint redirects (\(serverMessage)); set JIGSAWSTACK_API_URL to the final address")
        case 413:
            return StoreError(.fixFile, status: status, message: serverMessage)
        default:
            return StoreError(.fixFile, status: status, message: serverMessage)
        }
    }
}
