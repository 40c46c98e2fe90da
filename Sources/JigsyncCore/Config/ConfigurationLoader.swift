import Foundation
import Glibc
import Yams

/// Reads, decodes and checks a configuration file.
///
/// Errors name the file, the line, the field and the reason. The checks are the ones a daemon
/// must not start without: folders that exist (unless optional), no folder inside another, no two
/// prefixes where one contains the other, the ledger outside every folder, valid durations and
/// policies, and a secret key in clear only in a file nobody else can read.
public enum ConfigurationLoader {
    public static let defaultPath = "/etc/jigsync/config.yaml"

    public static func load(_ path: String) throws(ConfigurationError) -> JigsyncConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(file: path, reason: "cannot be read: \((error as NSError).localizedDescription)")
        }
        return try parse(text, path: path)
    }

    /// Decodes and checks the text of a configuration file named `path` (in errors).
    static func parse(_ text: String, path: String) throws(ConfigurationError) -> JigsyncConfiguration {
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                throw ConfigurationError(file: path, line: 1, column: 1,
                                         reason: "the file is empty; it needs at least `folders:` (see \(samplePath))")
            }
            root = composed
        } catch let error as YamlError {
            let problem = YAMLSyntaxProblem(error, text: text)
            throw ConfigurationError(file: path, line: problem.line, column: problem.column, reason: problem.reason)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(file: path, reason: "\(error)")
        }
        guard root.mapping != nil else {
            throw ConfigurationError(file: path, line: root.mark?.line, column: root.mark?.column,
                                     reason: "expected keys such as `folders:` at the top, found \(describe(root))")
        }
        if let unknown = ConfigurationSchema.firstUnknownKey(in: root) {
            var reason = "unknown key `\(unknown.key)`" + (unknown.field.isEmpty ? "" : " in \(unknown.field)")
            if let suggestion = unknown.suggestion {
                reason += "; did you mean `\(suggestion)`?"
            } else {
                reason += "; known keys here: " + unknown.known.joined(separator: ", ")
            }
            throw ConfigurationError(file: path, line: unknown.mark?.line, column: unknown.mark?.column, reason: reason)
        }
        let configuration: JigsyncConfiguration
        do {
            configuration = try YAMLDecoder().decode(JigsyncConfiguration.self, from: root)
        } catch let error as DecodingError {
            let (codingPath, reason) = describe(error)
            let mark = ConfigurationSchema.node(at: codingPath, in: root)?.mark
            throw ConfigurationError(file: path, line: mark?.line, column: mark?.column, field: fieldName(codingPath), reason: reason)
        } catch let error as YamlError {
            let problem = YAMLSyntaxProblem(error, text: text)
            throw ConfigurationError(file: path, line: problem.line, column: problem.column, reason: problem.reason)
        } catch {
            throw ConfigurationError(file: path, reason: "\(error)")
        }
        try check(configuration, path: path, root: root)
        return configuration
    }

    static func check(_ c: JigsyncConfiguration, path: String, root: Node) throws(ConfigurationError) {
        func fail(_ field: String, _ reason: String) -> ConfigurationError {
            let mark = node(of: field, in: root)?.mark
            return ConfigurationError(file: path, line: mark?.line, column: mark?.column, field: field, reason: reason)
        }
        if c.api?.api_key != nil {
            var s = stat()
            guard lstat(path, &s) == 0, s.st_mode & 0o077 == 0 else {
                throw fail("api.api_key", "a secret key in clear needs the file to be mode 0600 (it is \(String(s.st_mode & 0o777, radix: 8))); chmod 600 it, or use $JIGSAWSTACK_API_KEY or a systemd credential")
            }
        }
        let folders = c.folders ?? []
        var resolved: [(index: Int, path: String, prefix: String)] = []
        // Every key space a folder writes: its prefix, and its version prefix when it keeps versions.
        var spaces: [(index: Int, prefix: String, what: String)] = []
        for (index, folder) in folders.enumerated() {
            let field = "folders[\(index)]"
            guard folder.path.hasPrefix("/") else { throw fail("\(field).path", "must be an absolute path (got \(folder.path))") }
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory)
            if exists && !isDirectory.boolValue { throw fail("\(field).path", "\(folder.path) is not a directory") }
            if !exists && folder.optional != true {
                throw fail("\(field).path", "\(folder.path) does not exist (mark it `optional: true` if it comes and goes)")
            }
            if let policy = folder.on_delete, !["keep", "delete"].contains(policy) {
                throw fail("\(field).on_delete", "must be keep or delete (got \(policy))")
            }
            if let command = folder.on_upload, command.first.map({ $0.isEmpty }) ?? true {
                throw fail("\(field).on_upload", "needs the program to run, as a list: [/usr/local/bin/ocr-scan, --lang, en] (no shell)")
            }
            let real = exists ? (realpath(folder.path, nil).map { p in defer { free(p) }; return String(cString: p) } ?? folder.path) : folder.path
            let prefix = FolderSpec.normalize(prefix: folder.prefix ?? "")
            for other in resolved {
                if real == other.path || real.hasPrefix(other.path + "/") || other.path.hasPrefix(real + "/") {
                    throw fail("\(field).path", "\(folder.path) and folders[\(other.index)] (\(other.path)) are nested or the same; a file must have one key")
                }
                if prefix.hasPrefix(other.prefix) || other.prefix.hasPrefix(prefix) {
                    throw fail("\(field).prefix", "prefix \"\(prefix)\" overlaps folders[\(other.index)]'s \"\(other.prefix)\"; two folders could map to one key")
                }
            }
            if let versions = folder.versions {
                guard (0...1000).contains(versions) else { throw fail("\(field).versions", "must be between 0 and 1000") }
                if versions > 0 && prefix.isEmpty {
                    throw fail("\(field).versions", "needs a prefix: with an empty prefix every key is the folder's own, so its versions (under .versions/) could collide with a file's key")
                }
            }
            var mine = [(prefix, "prefix")]
            if (folder.versions ?? 0) > 0 { mine.append((FolderSpec.versionPrefix(for: prefix), "version prefix")) }
            for (space, what) in mine {
                for other in spaces where space.hasPrefix(other.prefix) || other.prefix.hasPrefix(space) {
                    throw fail("\(field).prefix", "\(what) \"\(space)\" overlaps folders[\(other.index)]'s \(other.what) \"\(other.prefix)\"; two files could map to one key")
                }
            }
            spaces += mine.map { (index, $0.0, $0.1) }
            resolved.append((index, real, prefix))
        }
        if let ledger = c.ledger {
            let absolute = (ledger as NSString).standardizingPath
            if let inside = resolved.first(where: { absolute.hasPrefix($0.path + "/") }) {
                throw fail("ledger", "\(ledger) is inside folders[\(inside.index)]; the ledger's own writes would be synced")
            }
        }
        if let upload = c.upload {
            if let workers = upload.workers, !(1...64).contains(workers) { throw fail("upload.workers", "must be between 1 and 64") }
            if let size = upload.max_size, size <= 0 { throw fail("upload.max_size", "must be positive") }
            if let rate = upload.rate_limit, rate <= 0 { throw fail("upload.rate_limit", "must be positive") }
            if let policy = upload.on_conflict, !["overwrite", "skip"].contains(policy) {
                throw fail("upload.on_conflict", "must be overwrite or skip (got \(policy))")
            }
            if let rate = upload.max_rate, RateParser.parse(rate).map({ $0 == 0 || $0 >= SendBudgetLimits.minimum }) != true {
                throw fail("upload.max_rate", "not a rate of at least 1KB/s: \(rate) (write 5MB/s, 500KB/s, 2MiB/s, or 0 for unlimited)")
            }
            for (name, value) in [("connect_timeout", upload.connect_timeout), ("stall_timeout", upload.stall_timeout),
                                  ("response_timeout", upload.response_timeout), ("retry_for", upload.retry_for)] {
                if let value, DurationParser.parse(value) == nil { throw fail("upload.\(name)", "not a duration: \(value) (write 30s, 2m, 1h)") }
            }
        }
        if let damage = c.guard {
            if let count = damage.max_overwrites, count < 1 { throw fail("guard.max_overwrites", "must be at least 1 (turn the guard off with `enabled: false`)") }
            if let percent = damage.max_percent, !(percent > 0 && percent <= 100) { throw fail("guard.max_percent", "must be above 0 and at most 100") }
            if let window = damage.window, DurationParser.parse(window).map({ $0 > .zero }) != true {
                throw fail("guard.window", "not a positive duration: \(window) (write 30s, 2m, 1h)")
            }
        }
        if let endpoint = c.api?.endpoint, let problem = endpointProblem(endpoint) {
            throw fail("api.endpoint", problem)
        }
        for (name, value) in (c.api?.headers ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let problem = StoreConfiguration.headerProblem(name: name, value: value) { throw fail("api.headers.\(name)", problem) }
        }
        if let version = c.api?.http_version, !["automatic", "1.1"].contains(version) {
            throw fail("api.http_version", "must be automatic or 1.1 (got \(version))")
        }
        if let actions = c.actions {
            if let workers = actions.workers, !(1...64).contains(workers) { throw fail("actions.workers", "must be between 1 and 64") }
            if let retries = actions.retries, !(0...100).contains(retries) { throw fail("actions.retries", "must be between 0 and 100") }
            if let timeout = actions.timeout, DurationParser.parse(timeout) == nil {
                throw fail("actions.timeout", "not a duration: \(timeout) (write 30s, 5m, 1h)")
            }
        }
        if let listen = c.metrics?.listen, MetricsServer.parse(listen) == nil {
            throw fail("metrics.listen", "\(listen) is not IPV4:PORT (write 127.0.0.1:9464; keep it on loopback unless a firewall guards it)")
        }
        if let level = c.log?.level, !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) {
            throw fail("log.level", "unknown level \(level)")
        }
    }

    /// Why `url` cannot be an API base URL, or nil when it can: an `http` or `https` URL with a
    /// host. Checked before any request, so a typo is a usage error at once, not minutes of retries.
    public static func endpointProblem(_ url: String) -> String? {
        let url = url.trimmingCharacters(in: .whitespaces)
        guard url.contains("://") else { return "\(url) has no scheme; write https://\(url) (or http:// for a local emulator)" }
        guard let components = URLComponents(string: url), let scheme = components.scheme else {
            return "\(url) is not a URL; write it as https://HOST or http://HOST:PORT"
        }
        guard ["http", "https"].contains(scheme.lowercased()) else {
            return "\(url): the scheme must be https:// or http://, not \(scheme)://"
        }
        // The host as written, not `components.host` (or `percentEncodedHost`): those transcode
        // it through ICU's IDNA tables, a few MB of RSS in every command, only to test it is there.
        guard !hostAsWritten(url).isEmpty else {
            return "\(url) names no host; write it as https://HOST or http://HOST:PORT"
        }
        return nil
    }

    /// The host of a URL URLComponents accepted: the authority after `://` up to the path, query
    /// or fragment, without `user:password@` and `:port` (an IPv6 host keeps its brackets).
    static func hostAsWritten(_ url: String) -> Substring {
        guard let schemeEnd = url.range(of: "://") else { return "" }
        var authority = url[schemeEnd.upperBound...]
        if let end = authority.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { authority = authority[..<end] }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") { return authority[...close] }
        if let colon = authority.firstIndex(of: ":") { return authority[..<colon] }
        return authority
    }

    /// The sample file installed beside the configuration, named in messages about an empty file.
    static let samplePath = "/etc/jigsync/config.sample.yaml"

    /// A field as a YAML path (`folders[1].prefix`).
    static func fieldName(_ codingPath: [any CodingKey]) -> String? {
        guard !codingPath.isEmpty else { return nil }
        return codingPath.reduce("") { text, key in
            if let index = key.intValue { return text + "[\(index)]" }
            return text.isEmpty ? key.stringValue : text + "." + key.stringValue
        }
    }

    /// What a node is, in the words of someone editing YAML.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return "the text `\(scalar.string.prefix(40))`"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .alias: return "an alias"
        }
    }

    /// The coding path and the reason of a decoding error, without Swift's type names.
    static func describe(_ error: DecodingError) -> ([any CodingKey], String) {
        func expected(_ type: Any.Type) -> String {
            switch type {
            case is Int.Type, is Int64.Type: return "a whole number"
            case is Double.Type: return "a number"
            case is Bool.Type: return "true or false"
            case is String.Type: return "text"
            case is [String].Type: return "a list of text, like [\"*.bak\"]"
            default:
                let name = String(reflecting: type)
                if name.contains("Array") || name.contains("Sequence") { return "a list (items starting with `- `)" }
                if name.contains("Dictionary") || name.contains("Mapping") || name.contains("JigsyncConfiguration") {
                    return "a mapping (indented `key: value` lines)"
                }
                return "a value of another kind"
            }
        }
        switch error {
        case .typeMismatch(let type, let context):
            return (context.codingPath, "expected \(expected(type))")
        case .valueNotFound(let type, let context):
            return (context.codingPath, "needs a value (\(expected(type)))")
        case .keyNotFound(let key, let context):
            return (context.codingPath + [key], "is required")
        case .dataCorrupted(let context):
            return (context.codingPath, "cannot be read: \(context.debugDescription)")
        @unknown default:
            return ([], "\(error)")
        }
    }

    /// The node of a field named as a YAML path (`folders[1].prefix`), for its line and column.
    static func node(of field: String, in root: Node) -> Node? {
        var path: [any CodingKey] = []
        for part in field.split(separator: ".") {
            let pieces = part.split(separator: "[")
            if let name = pieces.first { path.append(FieldKey(stringValue: String(name))) }
            for index in pieces.dropFirst() {
                if let value = Int(index.dropLast()) { path.append(FieldKey(intValue: value)) }
            }
        }
        return ConfigurationSchema.node(at: path, in: root)
    }

    private struct FieldKey: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(stringValue: String) { self.stringValue = stringValue }
        init(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
    }
}
