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
