/// How actions run (`actions:` in the configuration).
public struct ActionSettings: Sendable, Equatable {
    /// Actions running at once.
    public var workers = 2
    /// A run longer than this is killed (its whole process group) and counts as a failure.
    public var timeout: Duration = .seconds(300)
    /// Runs after the first that a failing action gets before it is `failed`.
    public var retries = 5
    /// The backoff between runs of a failing action.
    public var retry = RetryPolicy(base: .seconds(1), cap: .seconds(300))

    public init() {}

    public static func == (a: ActionSettings, b: ActionSettings) -> Bool {
        a.workers == b.workers && a.timeout == b.timeout && a.retries == b.retries
    }
}

/// What an action's environment says about the service, besides the file: the API key goes only
/// into the child's environment (never its argv, never a log line).
public struct ActionService: Sendable {
    public var apiKey: APIKey?
    /// The API's base URL without `/v1` (`JIGSAWSTACK_API_URL`).
    public var baseURL: String
    public var publicKey: String?

    public init(apiKey: APIKey?, baseURL: String, publicKey: String?) {
        self.apiKey = apiKey
        self.baseURL = baseURL
        self.publicKey = publicKey
    }
}
