/// The YAML configuration file (`/etc/jigsync/config.yaml`), as decoded.
///
/// Every field is optional: the command line and the environment fill or override it.
public struct JigsyncConfiguration: Codable, Sendable, Equatable {
    public struct FolderEntry: Codable, Sendable, Equatable {
        public var path: String
        public var prefix: String?
        public var include: [String]?
        public var exclude: [String]?
        public var on_delete: String?
        /// A folder that may be missing at start (a removable disk): watched once it appears.
        public var optional: Bool?
    }

    public struct Upload: Codable, Sendable, Equatable {
        public var workers: Int?
        public var max_size: Int64?
        /// This daemon's share of the project's 50 requests per second.
        public var rate_limit: Double?
        public var on_conflict: String?
        public var connect_timeout: String?
        public var stall_timeout: String?
        public var response_timeout: String?
        public var retry_for: String?
    }

    public struct API: Codable, Sendable, Equatable {
        /// Base URL without `/v1`.
        public var endpoint: String?
        public var public_key: String?
        /// `automatic` (HTTP/2 over TLS when offered) or `1.1`.
        public var http_version: String?
        public var ca_bundle: String?
        /// The secret key in clear: accepted only when the file is mode 0600 (or stricter).
        public var api_key: String?
    }

    public struct Log: Codable, Sendable, Equatable {
        public var level: String?
    }

    public var folders: [FolderEntry]?
    public var upload: Upload?
    public var api: API?
    public var ledger: String?
    public var log: Log?
}
