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

    @Option(help: "Seconds allowed to connect (default 10).") var connectTimeout: Double?
    @Option(help: "Seconds of no progress while sending before a transfer is aborted (default 30).") var stallTimeout: Double?
    @Option(help: "Seconds after the whole body is sent by which the answer must be complete, however slowly it trickles in (default 120).") var responseTimeout: Double?

    @Option(help: ArgumentHelp("Upload bandwidth for all transfers together, such as 5MB/s, 500KB/s or 2MiB/s; 0 for unlimited (default: the configuration's upload.max_rate, else unlimited).", valueName: "RATE"))
    var maxRate: String?

    func validate() throws {
        if let maxRate, RateParser.parse(maxRate).map({ $0 == 0 || $0 >= SendBudgetLimits.minimum }) != true {
            throw ValidationError("--max-rate: \(maxRate) is not a rate of at least 1KB/s (write 5MB/s, 500KB/s, or 0 for unlimited)")
        }
        for (name, value) in [("--connect-timeout", connectTimeout), ("--stall-timeout", stallTimeout), ("--response-timeout", responseTimeout)] {
            if let value { guard value > 0, value.isFinite else { throw ValidationError("\(name) must be a positive number of seconds") } }
        }
        if let endpoint, let problem = ConfigurationLoader.endpointProblem(endpoint) { throw ValidationError("--endpoint: \(problem)") }
        if endpoint == nil, let url = ProcessInfo.processInfo.environment["JIGSAWSTACK_API_URL"], !url.isEmpty, let problem = ConfigurationLoader.endpointProblem(url) {
            throw ValidationError("$JIGSAWSTACK_API_URL: \(problem)")
        }
    }

    /// The client configuration: these options, then the environment (and systemd's credentials
    /// directory for the key), then the configuration file, then the defaults.
    func storeConfiguration(file: JigsyncConfiguration? = nil) -> StoreConfiguration {
        var configuration = StoreConfiguration.resolve(file: file?.api)
        if let endpoint { configuration.baseURL = StoreConfiguration(baseURL: endpoint, apiKey: nil).baseURL }
        if http11 { configuration.httpVersion = .http1_1 }
        if let caBundle { configuration.caBundle = caBundle }
        func duration(_ flag: Double?, _ text: String?, _ fallback: Duration) -> Duration {
            if let flag { return .milliseconds(Int64(flag * 1000)) }
            return text.flatMap(DurationParser.parse) ?? fallback
        }
        let upload = file?.upload
        configuration.connectTimeout = duration(connectTimeout, upload?.connect_timeout, configuration.connectTimeout)
        configuration.sendStallTimeout = duration(stallTimeout, upload?.stall_timeout, configuration.sendStallTimeout)
        configuration.receiveStallTimeout = configuration.sendStallTimeout
        configuration.responseTimeout = duration(responseTimeout, upload?.response_timeout, configuration.responseTimeout)
        configuration.maxSendRate = (maxRate ?? upload?.max_rate).flatMap(RateParser.parse) ?? 0
        return configuration
    }
}

/// Prints a one-line reason on standard error and picks the exit code: 3 when the service
/// rejected the key or the endpoint (fix the configuration), 1 otherwise.
func fail(_ error: any Error, doing what: String) -> ExitCode {
    StandardError.write("jigsync: \(what): \(error)\n")
    if let error = error as? StoreError, error.disposition == .fixConfiguration { return ExitCode(3) }
    return ExitCode(1)
}

/// Stops before any work when no secret key was found, naming where to put one.
func requireAPIKey(_ configuration: StoreConfiguration) throws {
    guard configuration.apiKey == nil else { return }
    StandardError.write("""
        jigsync: no API key: set JIGSAWSTACK_API_KEY (under systemd: the credential \(StoreConfiguration.credentialName); \
        or api.api_key in a mode-0600 configuration file)

        """)
    throw ExitCode(JigsyncCommand.usageErrorStatus)
}
