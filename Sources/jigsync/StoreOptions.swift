import ArgumentParser
import Foundation
import JigsyncCore

/// Options every command that talks to the API shares.
struct StoreOptions: ParsableArguments {
    @Option(help: "Base URL of the API, without /v1 (default: $JIGSAWSTACK_API_URL, else \(StoreConfiguration.defaultBaseURL)).")
    var endpoint: String?

    @Flag(name: .customLong("http1.1"), help: "Use HTTP/1.1 only (default: HTTP/2 when the server offers it over TLS).")
    var http11 = false

    @Option(help: "A CA bundle (PEM) to verify the server with instead of the system's.")
    var caBundle: String?

    @Option(help: "Seconds allowed to connect.") var connectTimeout = 10.0
    @Option(help: "Seconds of no progress while sending before a transfer is aborted.") var stallTimeout = 30.0
    @Option(help: "Seconds to wait for the answer once the whole body is sent.") var responseTimeout = 120.0

    func validate() throws {
        for (name, value) in [("--connect-timeout", connectTimeout), ("--stall-timeout", stallTimeout), ("--response-timeout", responseTimeout)] {
            guard value > 0, value.isFinite else { throw ValidationError("\(name) must be a positive number of seconds") }
        }
    }

    /// The client configuration: environment first, then these options.
    func storeConfiguration() -> StoreConfiguration {
        var configuration = StoreConfiguration.fromEnvironment()
        if let endpoint { configuration.baseURL = StoreConfiguration(baseURL: endpoint, apiKey: nil).baseURL }
        if http11 { configuration.httpVersion = .http1_1 }
        if let caBundle { configuration.caBundle = caBundle }
        configuration.connectTimeout = .milliseconds(Int64(connectTimeout * 1000))
        configuration.sendStallTimeout = .milliseconds(Int64(stallTimeout * 1000))
        configuration.receiveStallTimeout = .milliseconds(Int64(stallTimeout * 1000))
        configuration.responseTimeout = .milliseconds(Int64(responseTimeout * 1000))
        return configuration
    }
}

/// Prints a one-line reason on standard error and picks the exit code: 3 when the service
/// rejected the key or the endpoint (fix the configuration), 1 otherwise.
func fail(_ error: any Error, doing what: String) -> ExitCode {
    FileHandle.standardError.write(Data("jigsync: \(what): \(error)\n".utf8))
    if let error = error as? StoreError, error.disposition == .fixConfiguration { return ExitCode(3) }
    return ExitCode(1)
}
