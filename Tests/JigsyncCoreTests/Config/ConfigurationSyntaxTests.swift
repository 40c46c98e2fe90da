import Foundation
import Glibc
import JigsyncCore
import Testing

/// What an operator's typing mistakes in the configuration file get: `FILE:LINE:COLUMN: reason`,
/// in words, from `jigsync check` and from the commands that load the file.
@Suite("Configuration: unknown keys and YAML syntax")
struct ConfigurationSyntaxTests {
    let root = TemporaryDirectory.make(prefix: "config-syntax")

    func writeConfig(_ text: String) throws -> String {
        let path = root.appending(path: "config.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a misspelled key anywhere is refused with its line, column and the key it resembles", arguments: [
        ("folders:\n  - path: DIR\n    prefx: in/\n", "3:5", "unknown key `prefx` in folders[0]; did you mean `prefix`?"),
        ("folder:\n  - path: DIR\n", "1:1", "unknown key `folder`; did you mean `folders`?"),
        ("folders:\n  - path: DIR\napi: {key: sk-abc}\n", "3:7", "unknown key `key` in api; did you mean `api_key`?"),
        ("folders:\n  - path: DIR\nupload:\n  worker: 2\n", "4:3", "unknown key `worker` in upload; did you mean `workers`?"),
        ("folders:\n  - path: DIR\nlog:\n  lvl: info\n", "4:3", "unknown key `lvl` in log; did you mean `level`?"),
        ("folders:\n  - path: DIR\nguard:\n  max_overwrite: 5\n", "4:3", "unknown key `max_overwrite` in guard; did you mean `max_overwrites`?"),
        ("folders:\n  - path: DIR\nwatchdog: 5\n", "3:1", "unknown key `watchdog`; known keys here: actions, api, folders, guard, ledger, log, metrics, upload"),
    ] as [(String, String, String)])
    func unknownKey(text: String, position: String, reason: String) throws {
        let folder = root.appending(path: "in").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let config = try writeConfig(text.replacingOccurrences(of: "DIR", with: folder))
        let check = try ProcessRun.run(Products.jigsync, ["check", "--config", config])
        #expect(check.status == 2)
        #expect(check.stderr.contains("\(config):\(position): \(reason)"), "\(check.stderr)")
        #expect(!check.stderr.contains("sk-abc"))
    }

    @Test("sync refuses a misspelled prefix instead of uploading under the wrong key")
    func syncRefusesUnknownKey() async throws {
        let emulator = try EmulatorProcess()
        let folder = root.appending(path: "tree")
        try TestFiles.write("a.txt", "a", in: folder)
        let config = try writeConfig("folders:\n  - path: \(folder.path)\n    prefx: in/\nledger: \(root.appending(path: "l.db").path)\n")
        let sync = try ProcessRun.run(Products.jigsync, ["sync", "--config", config], environment: emulator.clientEnvironment)
        #expect(sync.status == 2)
        #expect(sync.stderr.contains("did you mean `prefix`?"), "\(sync.stderr)")
        #expect(try await emulator.listing().isEmpty)
    }

    @Test("YAML syntax errors are FILE:LINE:COLUMN and plain words", arguments: [
        ("folders:\n  - path: /srv\n   prefix: a/\n", "3:", "not indented like"),
        ("log:\n\tlevel: info\n", "2:1", "a tab in the indentation"),
        ("folders:\n  - path: \"/srv/reports\n    prefix: r/\n", "2:11", "a quoted string is never closed"),
        ("upload:\n  workers: 2\n  rate_limit 50\n  on_conflict: skip\n", "3:", "a key without a colon"),
        ("", "1:1", "the file is empty"),
        ("# only a comment\n", "1:1", "the file is empty"),
        ("folders: [/srv\n", "2:1", "is not closed with `]` (it opens at line 1)"),
        ("folders\n", "1:1", "expected keys such as `folders:`"),
        ("upload:\n  workers: many\n", "2:12", "upload.workers: expected a whole number"),
        ("folders:\n  path: /srv\n", "2:3", "folders: expected a list"),
    ] as [(String, String, String)])
    func syntax(text: String, position: String, reason: String) throws {
        let config = try writeConfig(text)
        let check = try ProcessRun.run(Products.jigsync, ["check", "--config", config])
        #expect(check.status == 2)
        let line = check.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line.hasPrefix("jigsync: \(config):\(position)"), "\(line)")
        #expect(line.range(of: #"\.yaml:\d+:\d+: "#, options: .regularExpression) != nil, "\(line)")
        #expect(line.contains(reason), "\(line)")
        for jargon in ["Mapping", "Node", "Swift.", "expected Int", "while parsing", "Optional("] {
            #expect(!line.contains(jargon), "\(line)")
        }
        #expect(line.split(separator: "\n").count == 1)
    }

    @Test("the sample file and the README name every key the loader knows, and the sample loads")
    func everyKeyDocumented() throws {
        typealias C = JigsyncConfiguration
        var keys = C.CodingKeys.allCases.map(\.stringValue)
        keys += C.FolderEntry.CodingKeys.allCases.map { "folders[].\($0.stringValue)" }
        keys += C.Upload.CodingKeys.allCases.map { "upload.\($0.stringValue)" }
        keys += C.API.CodingKeys.allCases.map { "api.\($0.stringValue)" }
        keys += C.Log.CodingKeys.allCases.map { "log.\($0.stringValue)" }
        keys += C.Actions.CodingKeys.allCases.map { "actions.\($0.stringValue)" }
        keys += C.MetricsSection.CodingKeys.allCases.map { "metrics.\($0.stringValue)" }
        let sample = try String(contentsOf: Products.packageRoot.appending(path: "systemd/config.sample.yaml"), encoding: .utf8)
        let readme = try String(contentsOf: Products.packageRoot.appending(path: "README.md"), encoding: .utf8)
        for key in keys {
            let leaf = key.split(separator: ".").last.map(String.init) ?? key
            #expect(sample.range(of: #"(?m)^[ #-]*"# + leaf + ":", options: .regularExpression) != nil, "the sample lacks \(key)")
            #expect(readme.contains("| `\(key)` |"), "the README's configuration keys lack \(key)")
        }
        #expect(sample.contains("api_key:") && sample.contains("0600"))
        // The sample itself is valid apart from its example folders.
        let loaded = try ProcessRun.run(Products.jigsync, ["check", "--config", Products.packageRoot.appending(path: "systemd/config.sample.yaml").path])
        #expect(loaded.stderr.contains("folders[0].path"), "\(loaded.stderr)")
    }
}
