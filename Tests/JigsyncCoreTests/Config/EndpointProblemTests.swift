import Foundation
@testable import JigsyncCore
import Testing

/// The endpoint check reads the host as written (no IDNA transcoding): a URL with a host passes,
/// one without is refused, whatever user, port, path or IPv6 brackets surround it.
@Suite struct EndpointProblemTests {
    @Test(arguments: ["https://api.jigsawstack.com", "http://127.0.0.1:8787", "http://127.0.0.1:8787/", "http://[::1]:8787",
                      "https://user:secret@example.com:443/base?x=1#f", "https://bücher.example", "HTTP://LOCALHOST"])
    func acceptsAHost(_ url: String) {
        #expect(ConfigurationLoader.endpointProblem(url) == nil)
    }

    @Test(arguments: ["http://", "http://:8787", "https://user@:443/", "http:///path", "https://?q", "http://#x"])
    func refusesNoHost(_ url: String) throws {
        let problem = try #require(ConfigurationLoader.endpointProblem(url))
        #expect(problem.contains("names no host") || problem.contains("is not a URL"), "\(problem)")
    }

    @Test func hostAsWritten() {
        #expect(ConfigurationLoader.hostAsWritten("https://u:p@h.example:1/x") == "h.example")
        #expect(ConfigurationLoader.hostAsWritten("http://[fe80::1]:80") == "[fe80::1]")
        #expect(ConfigurationLoader.hostAsWritten("http://h?x=a@b") == "h")
    }
}
