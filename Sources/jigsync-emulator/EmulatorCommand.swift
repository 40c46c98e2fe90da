import ArgumentParser
import Foundation
import Hummingbird
import Logging

/// `jigsync-emulator`: a local JigsawStack File Storage server for tests, benchmarks and trying
/// jigsync offline.
@main
struct EmulatorCommand: AsyncParsableCommand {
    static let defaultAPIKey = "emulator-secret-key"
    static let defaultPublicKey = "emulator-public-key"

    static let configuration = CommandConfiguration(
        commandName: "jigsync-emulator",
        abstract: "A local JigsawStack File Storage API for tests and offline use.",
        discussion: """
            Speaks POST /v1/store/file (raw body or multipart), GET and DELETE /v1/store/file/read/KEY.
            GET /_emulator/files lists every stored key with its size, SHA-256, content type and write count; \
            GET /_emulator/headers?key=KEY the headers of the last request that named KEY (x-api-key redacted); \
            GET /_emulator/faults counts the faults injected since start, by kind.
            The secret key comes from --api-key, else $JIGSYNC_EMULATOR_API_KEY, else "\(defaultAPIKey)".
            Prints "listening on http://HOST:PORT" once it accepts connections (--port 0 picks a free port).
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one.") var port = 8787
    @Option(help: "Directory that holds the stored files (survives restarts); default: a new temporary directory.")
    var data: String?
    @Option(help: "The secret API key to accept (prefer $JIGSYNC_EMULATOR_API_KEY: argv is visible to other users).")
    var apiKey: String?
    @Option(help: "The public key accepted in ?x-api-key= for reads.") var publicKey = defaultPublicKey
    @Option(help: "Largest upload accepted, in bytes (100 MiB).") var maxBytes: Int64 = 100 * 1024 * 1024
    @Option(help: "Enforce this many requests per second with 429s (default: not enforced; headers report 50).")
    var rateLimit: Int?
    @Option(help: "Fraction of API requests answered 500.") var failRate = 0.0
    @Option(help: "Fraction of API requests whose connection is cut in the middle of the body.") var resetRate = 0.0
    @Option(help: "Fraction of API requests answered 429.") var throttleRate = 0.0
    @Option(help: "Fraction of the injected 429s that carry Retry-After: 1 (the others only the rate-limit headers).")
    var retryAfterRate = 0.0
    @Option(help: "Delay before each API answer, in milliseconds.") var latencyMs = 0
    @Option(help: "Seed of the fault injection draws.") var seed: UInt64 = 1
    @Option(help: "Lifetime of temporary public URLs, in seconds.") var tempUrlSeconds = 600

    func validate() throws {
        for (name, rate) in [("--fail-rate", failRate), ("--reset-rate", resetRate), ("--throttle-rate", throttleRate),
                              ("--retry-after-rate", retryAfterRate)] {
            guard (0...1).contains(rate) else { throw ValidationError("\(name) must be between 0 and 1") }
        }
        guard failRate + resetRate + throttleRate <= 1 else { throw ValidationError("the fault rates add up to more than 1") }
        if let rateLimit, rateLimit < 1 { throw ValidationError("--rate-limit must be at least 1") }
        guard maxBytes >= 0 else { throw ValidationError("--max-bytes must not be negative") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let secret = apiKey ?? environment["JIGSYNC_EMULATOR_API_KEY"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultAPIKey
        let root: URL
        if let data {
            root = URL(fileURLWithPath: data)
        } else {
            root = FileManager.default.temporaryDirectory.appending(path: "jigsync-emulator-\(getpid())")
            try? FileManager.default.removeItem(at: root)
        }
        let store = try ObjectStore(root: root)
        let settings = EmulatorSettings(apiKey: secret, publicKey: publicKey, maxBytes: maxBytes,
                                        latencyMilliseconds: latencyMs, temporaryURLSeconds: tempUrlSeconds)
        let faults = FaultPlan(rates: .init(fail: failRate, reset: resetRate, throttle: throttleRate, retryAfter: retryAfterRate),
                               rateLimit: rateLimit, seed: seed)
        let responder = FileStorageResponder(store: store, settings: settings, faults: faults, temporaryURLs: TemporaryURLs())
        var logger = Logger(label: "jigsync-emulator")
        logger.logLevel = environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        let host = self.host
        let listening = ListeningFlag()
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname(host, port: port), serverName: "jigsync-emulator"),
            onServerRunning: { channel in
                listening.set()
                let port = channel.localAddress?.port ?? 0
                // Tests and scripts wait for this line; write it unbuffered.
                FileHandle.standardOutput.write(Data("jigsync-emulator listening on http://\(host):\(port) (data: \(root.path))\n".utf8))
            },
            logger: logger
        )
        do {
            try await app.runService()
        } catch where !listening.isSet {
            // The server never came up: the address could not be bound (most often the port is taken).
            FileHandle.standardError.write(Data("""
                jigsync-emulator: cannot listen on \(host):\(port): \(error); \
                is another process using port \(port)? Choose another with --port (make run PORT=…)

                """.utf8))
            throw ExitCode.failure
        }
    }
}

/// Set once the server listens, so a failure before that is reported as one to bind.
final class ListeningFlag: @unchecked Sendable {   // its one field is guarded by `lock`
    private let lock = NSLock()   // guards value
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
