import Foundation

/// Where the File Storage API is and how to talk to it.
public struct StoreConfiguration: Sendable {
    /// The production API, as the official SDKs default to it.
    public static let defaultBaseURL = "https://api.jigsawstack.com"

    /// HTTP versions the client can be told to use.
    public enum HTTPVersion: String, Sendable, CaseIterable {
        /// HTTP/2 when the server offers it over TLS, else HTTP/1.1 (curl's `CURL_HTTP_VERSION_2TLS`).
        case automatic
        /// HTTP/1.1 only.
        case http1_1 = "1.1"
    }

    /// Base URL without `/v1` and without a trailing slash.
    public var baseURL: String
    /// The secret key, sent as `x-api-key`.
    public var apiKey: APIKey?
    /// The public key, used only to build public read URLs.
    public var publicKey: String?
    /// Time allowed to set up the connection (TCP and TLS).
    public var connectTimeout: Duration = .seconds(10)
    /// Sending that makes no progress this long is aborted: the peer or the path is stuck.
    public var sendStallTimeout: Duration = .seconds(30)
    /// The time from the end of the body by which the answer must be complete (for a download,
    /// its headers; its body is bounded by the receive stall timeout). The server may still be
    /// storing a 100 MB body, so this is longer than the stall timeout and is not mistaken for
    /// one. It is absolute: a server that trickles its answer a byte at a time cannot extend it.
    public var responseTimeout: Duration = .seconds(120)
    /// Receiving (a download) that makes no progress this long is aborted.
    public var receiveStallTimeout: Duration = .seconds(30)
    /// HTTP version policy.
    public var httpVersion: HTTPVersion = .automatic
    /// A CA bundle to verify the server with, instead of the system's. Peer verification is always on.
    public var caBundle: String?
    /// Largest JSON answer the client reads into memory; larger ones are a protocol error.
    public var maxResponseBytes = 1 << 20
    /// Bytes per second for all uploads together (`upload.max_rate`, `--max-rate`); 0 for unlimited.
    public var maxSendRate: Int64 = 0
    /// Let the service log request payloads (`api.request_log: true`). Off by default: every
    /// request carries `x-jigsaw-no-request-log: true`, so a folder's contents do not end up
    /// in the service's request logs.
    public var requestLog = false
    /// Extra headers sent on every request (`api.headers`), checked by `headerProblem`.
    public var extraHeaders: [Header] = []

    /// One extra request header.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The header that asks the service not to log a request's payload (JigsawStack's SDKs
    /// send it when request logging is disabled).
    public static let noRequestLogHeader = "x-jigsaw-no-request-log"

    /// Headers jigsync sets itself, which `api.headers` may not replace: the secret key (it has
    /// its own safer sources), the body's framing, and the request-log switch (`api.request_log`).
    static let reservedHeaders: [String: String] = [
        "x-api-key": "the secret key comes from $JIGSAWSTACK_API_KEY, a systemd credential or api.api_key",
        "content-type": "jigsync sets each upload's content type (see --content-type-for)",
        "content-length": "jigsync sets the body's length",
        "transfer-encoding": "jigsync sets the body's framing",
        "host": "the host comes from api.endpoint",
        "x-jigsaw-no-request-log": "use api.request_log: true to let the service log requests",
    ]

    /// Why `name: value` cannot be an extra header, or nil when it can: a token name (RFC 9110),
    /// not one jigsync sets itself, and a value without line breaks (no header injection).
    public static func headerProblem(name: String, value: String) -> String? {
        let tokenCharacters = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        guard !name.isEmpty, name.allSatisfy(tokenCharacters.contains) else {
            return "\"\(name)\" is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        }
        if let reason = reservedHeaders[name.lowercased()] { return "\(name) cannot be set here: \(reason)" }
        // By scalar: "\r\n" is one Character in Swift, equal to neither "\r" nor "\n".
        if value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
            return "the value of \(name) holds a line break or NUL"
        }
        return nil
    }

    public init(baseURL: String = StoreConfiguration.defaultBaseURL, apiKey: APIKey?, publicKey: String? = nil) {
        self.baseURL = Self.normalize(baseURL)
        self.apiKey = apiKey
        self.publicKey = publicKey
    }

    /// Reads `JIGSAWSTACK_API_URL`, `JIGSAWSTACK_API_KEY` and `JIGSAWSTACK_PUBLIC_KEY`, the names the
    /// official SDKs use, so one environment serves both.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> StoreConfiguration {
        let url = environment["JIGSAWSTACK_API_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultBaseURL
        var configuration = StoreConfiguration(baseURL: url, apiKey: environment["JIGSAWSTACK_API_KEY"].flatMap(APIKey.init))
        configuration.publicKey = environment["JIGSAWSTACK_PUBLIC_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.caBundle = environment["JIGSYNC_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }
        return configuration
    }

    /// The file name of the secret under `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`).
    public static let credentialName = "jigsawstack-api-key"

    /// The environment first, then systemd's credentials directory, then the configuration file.
    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment,
                               file: JigsyncConfiguration.API?) -> StoreConfiguration {
        var configuration = fromEnvironment(environment)
        if environment["JIGSAWSTACK_API_URL"].map({ $0.isEmpty }) ?? true, let endpoint = file?.endpoint {
            configuration.baseURL = normalize(endpoint)
        }
        if configuration.apiKey == nil, let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty,
           let secret = try? String(contentsOfFile: directory + "/" + credentialName, encoding: .utf8) {
            configuration.apiKey = APIKey(secret)
        }
        if configuration.apiKey == nil { configuration.apiKey = file?.api_key.flatMap(APIKey.init) }
        if configuration.publicKey == nil { configuration.publicKey = file?.public_key }
        if configuration.caBundle == nil { configuration.caBundle = file?.ca_bundle }
        if file?.http_version == "1.1" { configuration.httpVersion = .http1_1 }
        configuration.requestLog = file?.request_log ?? false
        configuration.extraHeaders = (file?.headers ?? [:]).sorted { $0.key < $1.key }.map { Header(name: $0.key, value: $0.value) }
        return configuration
    }

    /// Drops trailing slashes and a trailing `/v1`, which users paste from the docs; the SDK's
    /// own quirk (`base/` → `//v1`) is not reproduced.
    static func normalize(_ url: String) -> String {
        var url = url.trimmingCharacters(in: .whitespaces)
        while url.hasSuffix("/") { url.removeLast() }
        if url.hasSuffix("/v1") { url.removeLast(3) }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}
