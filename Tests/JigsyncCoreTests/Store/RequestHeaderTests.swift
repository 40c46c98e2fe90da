import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import Testing

/// Private requests: `x-jigsaw-no-request-log: true` on every request unless `api.request_log`
/// says otherwise, and extra headers from `api.headers`, as the emulator received them.
@Suite("request headers")
struct RequestHeaderTests {
    let root = TemporaryDirectory.make(prefix: "headers")

    func headers(_ emulator: EmulatorProcess, key: String) async throws -> [String: String] {
        var components = URLComponents(string: emulator.baseURL + "/_emulator/headers")!
        components.queryItems = [URLQueryItem(name: "key", value: key)]
        let (data, _) = try await URLSession.shared.data(from: components.url!)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["headers"] as? [String: String] ?? [:]
    }

    func config(_ text: String) throws -> String {
        let path = root.appending(path: "config-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("by default every request (an upload, a read) asks the service not to log it; the key is never recorded")
    func privateByDefault() async throws {
        let emulator = try EmulatorProcess()
        let tree = root.appending(path: "tree")
        try TestFiles.write("a.txt", "private words", in: tree)
        let sync = try ProcessRun.run(Products.jigsync, ["sync", "--folder", tree.path, "--ledger", root.appending(path: "l.db").path],
                                      environment: emulator.clientEnvironment)
        #expect(sync.status == 0, "\(sync.stderr)")
        let upload = try await headers(emulator, key: "a.txt")
        #expect(upload["x-jigsaw-no-request-log"] == "true")
        #expect(upload["x-api-key"] == "(redacted)")
        let local = root.appending(path: "copy.txt").path
        let get = try ProcessRun.run(Products.jigsync, ["get", "a.txt", "--output", local], environment: emulator.clientEnvironment)
        #expect(get.status == 0, "\(get.stderr)")
        #expect(try await headers(emulator, key: "a.txt")["x-jigsaw-no-request-log"] == "true")
    }

    @Test("api.request_log: true drops the header; api.headers adds its own")
    func configured() async throws {
        let emulator = try EmulatorProcess()
        let tree = root.appending(path: "tree")
        try TestFiles.write("b.txt", "team file", in: tree)
        let file = try config("""
            folders:
              - path: \(tree.path)
            api:
              request_log: true
              headers:
                X-Team: docs
                x-trace-id: "42"
            """)
        let sync = try ProcessRun.run(Products.jigsync, ["sync", "--config", file, "--ledger", root.appending(path: "l.db").path],
                                      environment: emulator.clientEnvironment)
        #expect(sync.status == 0, "\(sync.stderr)")
        let received = try await headers(emulator, key: "b.txt")
        #expect(received["x-jigsaw-no-request-log"] == nil)
        #expect(received["x-team"] == "docs")
        #expect(received["x-trace-id"] == "42")
        #expect(try await emulator.listing()["b.txt"] != nil)
    }

    @Test("api.headers refuses x-api-key, Content-Type and Content-Length with a clear error, and a value with a line break")
    func refused() throws {
        let tree = root.appending(path: "tree")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        for (name, value, says) in [("x-api-key", "sk_should_not_be_here", "secret key"), ("Content-Type", "text/plain", "content type"),
                                    ("Content-Length", "3", "length"), ("X-Bad", "\"a\\r\\nInjected: 1\"", "line break")] {
            let file = try config("""
                folders:
                  - path: \(tree.path)
                api:
                  headers:
                    \(name): \(value)
                """)
            let check = try ProcessRun.run(Products.jigsync, ["check", "--config", file])
            #expect(check.status == 2, "\(name): \(check.stdout)")
            let output = check.stdout + check.stderr
            #expect(output.contains("api.headers.\(name)") && output.contains(says), "\(output)")
            #expect(!output.contains("sk_should_not_be_here"))
        }
    }
}
