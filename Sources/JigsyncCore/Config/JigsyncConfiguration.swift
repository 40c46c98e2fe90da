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
        /// Keep the last N stored versions of each file under `PREFIX.versions/` (default 0: none).
        public var versions: Int?
        /// The program (and its arguments; no shell) run after each stored version of a file.
        public var on_upload: [String]?

        /// Every key a folder entry knows: an unknown one in a file is an error, not silence.
        public enum CodingKeys: String, CodingKey, CaseIterable {
            case path, prefix, include, exclude, on_delete, optional, versions, on_upload
        }
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
        /// Upload bandwidth for all transfers together (`5MB/s`); `0` for unlimited.
        public var max_rate: String?

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case workers, max_size, rate_limit, on_conflict, connect_timeout, stall_timeout, response_timeout, retry_for, max_rate
        }
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
        /// Let the service log request payloads (default false: `x-jigsaw-no-request-log: true` is sent).
        public var request_log: Bool?
        /// Extra headers on every request (never `x-api-key`, `Content-Type`, `Content-Length`).
        public var headers: [String: String]?

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case endpoint, public_key, http_version, ca_bundle, api_key, request_log, headers
        }
    }

    /// The damage guard: when a burst of changes to stored files stops overwriting in a folder.
    public struct Guard: Codable, Sendable, Equatable {
        public var enabled: Bool?
        public var max_overwrites: Int?
        public var max_percent: Double?
        public var window: String?

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case enabled, max_overwrites, max_percent, window
        }
    }

    public struct Log: Codable, Sendable, Equatable {
        public var level: String?

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case level
        }
    }

    /// How the folders' `on_upload` actions run.
    public struct Actions: Codable, Sendable, Equatable {
        public var workers: Int?
        /// A duration (`5m`).
        public var timeout: String?
        public var retries: Int?

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case workers, timeout, retries
        }
    }

    /// The Prometheus endpoint (off unless `listen` is set).
    public struct MetricsSection: Codable, Sendable, Equatable {
        /// `IPV4:PORT`, such as `127.0.0.1:9464`.
        public var listen: String?

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case listen
        }
    }

    public var folders: [FolderEntry]?
    public var upload: Upload?
    public var api: API?
    public var ledger: String?
    public var log: Log?
    public var `guard`: Guard?
    public var actions: Actions?
    public var metrics: MetricsSection?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case folders, upload, api, ledger, log, `guard`, actions, metrics
    }

    /// The action settings the file asks for, over the defaults.
    public var actionSettings: ActionSettings {
        var settings = ActionSettings()
        if let workers = actions?.workers { settings.workers = workers }
        if let retries = actions?.retries { settings.retries = retries }
        if let timeout = actions?.timeout.flatMap(DurationParser.parse) { settings.timeout = timeout }
        return settings
    }
}
