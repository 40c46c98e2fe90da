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
        let configuration: JigsyncConfiguration
        do {
            configuration = try YAMLDecoder().decode(JigsyncConfiguration.self, from: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: path, line: line(of: error), reason: "not valid YAML: \(error)")
        } catch let error as DecodingError {
            let (field, reason) = describe(error)
            throw ConfigurationError(file: path, line: lineNumber(of: field, in: text), field: field, reason: reason)
        } catch {
            throw ConfigurationError(file: path, reason: "\(error)")
        }
        try check(configuration, path: path, text: text)
        return configuration
    }

    static func check(_ c: JigsyncConfiguration, path: String, text: String) throws(ConfigurationError) {
        func fail(_ field: String, _ reason: String) -> ConfigurationError {
            ConfigurationError(file: path, line: lineNumber(of: field, in: text), field: field, reason: reason)
        }
        if c.api?.api_key != nil {
            var s = stat()
            guard lstat(path, &s) == 0, s.st_mode & 0o077 == 0 else {
                throw fail("api.api_key", "a secret key in clear needs the file to be mode 0600 (it is \(String(s.st_mode & 0o777, radix: 8))); chmod 600 it, or use $JIGSAWSTACK_API_KEY or a systemd credential")
            }
        }
        let folders = c.folders ?? []
        var resolved: [(index: Int, path: String, prefix: String)] = []
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
            for (name, value) in [("connect_timeout", upload.connect_timeout), ("stall_timeout", upload.stall_timeout),
                                  ("response_timeout", upload.response_timeout), ("retry_for", upload.retry_for)] {
                if let value, DurationParser.parse(value) == nil { throw fail("upload.\(name)", "not a duration: \(value) (write 30s, 2m, 1h)") }
            }
        }
        if let version = c.api?.http_version, !["automatic", "1.1"].contains(version) {
            throw fail("api.http_version", "must be automatic or 1.1 (got \(version))")
        }
        if let level = c.log?.level, !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) {
            throw fail("log.level", "unknown level \(level)")
        }
    }

    /// The field path and the reason of a decoding error.
    static func describe(_ error: DecodingError) -> (String?, String) {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.reduce("") { text, key in
                if let index = key.intValue { return text + "[\(index)]" }
                return text.isEmpty ? key.stringValue : text + "." + key.stringValue
            }
        }
        switch error {
        case .typeMismatch(let type, let context):
            return (path(context.codingPath), "expected \(type): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return (path(context.codingPath), "missing \(type)")
        case .keyNotFound(let key, let context):
            return (path(context.codingPath + [key]), "is required")
        case .dataCorrupted(let context):
            return (path(context.codingPath), context.debugDescription)
        @unknown default:
            return (nil, "\(error)")
        }
    }

    /// The line where the last key of `field` first appears, searching in order of the path's keys.
    static func lineNumber(of field: String?, in text: String) -> Int? {
        guard let field else { return nil }
        let keys = field.split(separator: ".").map { $0.split(separator: "[").first.map(String.init) ?? String($0) }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var start = 0
        var found: Int?
        for key in keys {
            guard let index = lines[start...].firstIndex(where: {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "- ")).hasPrefix(key + ":")
            }) else { return found }
            found = index + 1
            start = index
        }
        return found
    }

    private static func line(of error: YamlError) -> Int? {
        let text = "\(error)"
        // Yams describes positions as "line:column: …".
        if let match = text.firstMatch(of: /(\d+):(\d+):/) { return Int(match.1) }
        return nil
    }
}
