import Foundation
import Glibc
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JigsyncCore

/// `Tests/peers/lying_server.py` started for one test: a File Storage server that answers 200
/// for what it did not store (early, under another key or size) or trickles its answer.
/// Python's standard library only, so it needs no venv.
final class LyingServer: @unchecked Sendable {   // immutable after init; the process is thread-safe
    let process = Process()
    let baseURL: String
    private let output = Pipe()

    /// One upload the server saw.
    struct Request: Decodable {
        var mode: String
        var key: String?
        var declared: Int64
        var received: Int64
        var sha256: String
        /// Seconds from the status line until the client hung up, for `trickle`.
        var closed_after: Double?
    }

    struct StoredFile: Decodable {
        var size: Int64
        var sha256: String
    }

    struct Log: Decodable {
        var requests: [Request]
        var stored: [String: StoredFile]
    }

    /// - Parameter modes: one per upload in order, the last repeating (`["early", "ok"]`).
    init(modes: [String], interval: Double = 3) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = Products.packageRoot.appending(path: "Tests/peers/lying_server.py").path
        process.arguments = ["python3", script, modes.joined(separator: ","), "--interval", String(interval)]
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        var collected = Data()
        while true {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw TestFailure("lying_server.py exited before listening: \(String(decoding: collected, as: UTF8.self))") }
            collected.append(chunk)
            let text = String(decoding: collected, as: UTF8.self)
            if let range = text.range(of: #"http://[0-9.]+:[0-9]+"#, options: .regularExpression) {
                baseURL = String(text[range])
                break
            }
        }
    }

    deinit {
        // SIGKILL: the test process blocks SIGTERM, and a blocked mask survives exec, so the
        // server may never see a SIGTERM; a fake server has nothing to shut down cleanly.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// What the server saw and kept, from its own inspection endpoint.
    func log() async throws -> Log {
        let (data, _) = try await URLSession.shared.data(from: URL(string: baseURL + "/_fake/requests")!)
        return try JSONDecoder().decode(Log.self, from: data)
    }

    func storeConfiguration() -> StoreConfiguration {
        var configuration = StoreConfiguration(baseURL: baseURL, apiKey: APIKey("lying-server-key"))
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    /// The environment for a `jigsync` process that talks to this server.
    var clientEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["JIGSAWSTACK_API_URL"] = baseURL
        environment["JIGSAWSTACK_API_KEY"] = "lying-server-key"
        return environment
    }
}
