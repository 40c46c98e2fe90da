import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JigsyncCore

/// A `jigsync-emulator` started for one test on a free loopback port, stopped when released.
final class EmulatorProcess: @unchecked Sendable {   // set up in init, then only read; Process is thread-safe
    static let apiKey = "test-secret-\(UUID().uuidString.prefix(8))"
    static let publicKey = "test-public-key"

    let process = Process()
    let dataDirectory: URL
    private(set) var baseURL = ""
    private let output = Pipe()

    /// One stored file as the inspection endpoint lists it.
    struct StoredFile: Decodable, Equatable {
        var key: String
        var size: Int64
        var sha256: String
        var content_type: String
        var writes: Int
    }

    /// Starts the emulator with extra arguments (`--fail-rate 1`, …) and waits until it listens.
    init(arguments: [String] = [], dataDirectory: URL? = nil) throws {
        self.dataDirectory = dataDirectory ?? TemporaryDirectory.make(prefix: "emulator-data")
        process.executableURL = Products.emulator
        process.arguments = ["--port", "0", "--data", self.dataDirectory.path, "--public-key", Self.publicKey] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["JIGSYNC_EMULATOR_API_KEY"] = Self.apiKey
        process.environment = environment
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        baseURL = try waitForListeningLine()
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    private func waitForListeningLine() throws -> String {
        var collected = Data()
        let handle = output.fileHandleForReading
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { throw TestFailure("the emulator exited before listening: \(String(decoding: collected, as: UTF8.self))") }
            collected.append(chunk)
            let text = String(decoding: collected, as: UTF8.self)
            if let range = text.range(of: #"http://[0-9.]+:[0-9]+"#, options: .regularExpression) {
                return String(text[range])
            }
        }
    }

    /// A client configuration pointing at this emulator with the right key.
    func storeConfiguration(apiKey: String = EmulatorProcess.apiKey) -> StoreConfiguration {
        var configuration = StoreConfiguration(baseURL: baseURL, apiKey: APIKey(apiKey), publicKey: Self.publicKey)
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    /// What the emulator has stored, from its inspection endpoint (not through the client under test).
    func listing() async throws -> [String: StoredFile] {
        struct Listing: Decodable { var files: [StoredFile] }
        let (data, _) = try await URLSession.shared.data(from: URL(string: baseURL + "/_emulator/files")!)
        let files = try JSONDecoder().decode(Listing.self, from: data).files
        return Dictionary(uniqueKeysWithValues: files.map { ($0.key, $0) })
    }

    /// Every stored file in the emulator's order (by the bytes of the key). Unlike `listing()`,
    /// keys equal only as Swift `String`s (NFC and NFD) stay two entries.
    func storedFiles() async throws -> [StoredFile] {
        struct Listing: Decodable { var files: [StoredFile] }
        let (data, _) = try await URLSession.shared.data(from: URL(string: baseURL + "/_emulator/files")!)
        return try JSONDecoder().decode(Listing.self, from: data).files
    }

    /// The faults injected so far, by kind (`GET /_emulator/faults`).
    func injectedFaults() async throws -> [String: Int] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: baseURL + "/_emulator/faults")!)
        return try JSONDecoder().decode([String: Int].self, from: data)
    }

    /// The environment a jigsync process or an SDK needs to reach this emulator.
    var clientEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["JIGSAWSTACK_API_URL"] = baseURL
        environment["JIGSAWSTACK_API_KEY"] = Self.apiKey
        environment["JIGSAWSTACK_PUBLIC_KEY"] = Self.publicKey
        return environment
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
