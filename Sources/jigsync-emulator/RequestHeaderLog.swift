/// The headers of the last request that named each key (in its path, or in an upload's `key`
/// query), so a test can check what a client sent: `GET /_emulator/headers?key=KEY`.
/// The secret key's value is never kept: `x-api-key` is recorded as `(redacted)`.
actor RequestHeaderLog {
    private var last: [String: [String: String]] = [:]

    /// Bounds memory for a long-running emulator: past this many keys the log starts afresh.
    static let maxKeys = 100_000

    func record(key: String, headers: [(name: String, value: String)]) {
        if last.count >= Self.maxKeys && last[key] == nil { last.removeAll() }
        var fields: [String: String] = [:]
        for (name, value) in headers {
            let lower = name.lowercased()
            fields[lower] = lower == "x-api-key" ? "(redacted)" : value
        }
        last[key] = fields
    }

    func headers(for key: String) -> [String: String]? { last[key] }
}
