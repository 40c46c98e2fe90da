import Foundation
@testable import JigsyncCore
import Testing

@Suite("Reading the wait a server asks for")
struct ServerWaitTests {
    static let serverDate = "Fri, 27 Nov 2026 10:00:00 GMT"
    static let serverMillis: Double = 1_795_773_600_000   // the same instant in Unix milliseconds

    @Test("the reset header is read against the server's Date, whatever the local clock says")
    func resetRelativeToServerDate() throws {
        let headers = ["date": Self.serverDate, "x-jigsaw-rate-limit-reset": String(Int(Self.serverMillis + 1500))]
        for skew in [-3600.0, 0, 3600] {
            let localNow = Date(timeIntervalSince1970: Self.serverMillis / 1000 + skew)
            #expect(ServerWait.wait(from: headers, now: localNow) == .milliseconds(1500))
        }
    }

    @Test("a local clock that agrees with the Date header reads the reset to the millisecond, not the second")
    func resetWithAnAgreeingClock() {
        // The window ends 100 ms from now; the Date header, in whole seconds, says 900 ms earlier.
        let headers = ["date": Self.serverDate, "x-jigsaw-rate-limit-reset": String(Int(Self.serverMillis + 1000))]
        let localNow = Date(timeIntervalSince1970: Self.serverMillis / 1000 + 0.9)
        #expect(ServerWait.wait(from: headers, now: localNow) == .milliseconds(100))
    }

    @Test("a reset in the past is no wait, not a negative one; a far one is capped")
    func clamped() {
        let past = ["date": Self.serverDate, "x-jigsaw-rate-limit-reset": String(Int(Self.serverMillis - 5000))]
        #expect(ServerWait.wait(from: past) == .zero)
        let far = ["date": Self.serverDate, "x-jigsaw-rate-limit-reset": String(Int(Self.serverMillis + 7_200_000))]
        #expect(ServerWait.wait(from: far) == ServerWait.maximum)
    }

    @Test("Retry-After in seconds or as a date wins over the reset header")
    func retryAfter() {
        #expect(ServerWait.wait(from: ["retry-after": "7", "x-jigsaw-rate-limit-reset": "0"]) == .seconds(7))
        let dated = ["date": Self.serverDate, "retry-after": "Fri, 27 Nov 2026 10:00:30 GMT"]
        #expect(ServerWait.wait(from: dated) == .seconds(30))
        #expect(ServerWait.wait(from: ["retry-after": "soon"]) == nil)
        #expect(ServerWait.wait(from: [:]) == nil)
    }
}

@Suite("Key encoding and configuration")
struct KeyEncodingTests {
    @Test("path encoding keeps / and encodes everything outside the unreserved set")
    func pathEncoding() {
        #expect(KeyEncoding.pathComponent("a/b c?#%+é") == "a/b%20c%3F%23%25%2B%C3%A9")
        #expect(KeyEncoding.queryValue("a/b c") == "a%2Fb%20c")
    }

    @Test("the base URL loses trailing slashes and /v1; the key is redacted from text")
    func configuration() {
        #expect(StoreConfiguration(baseURL: "https://api.example.com/v1/", apiKey: nil).baseURL == "https://api.example.com")
        #expect(StoreConfiguration(baseURL: "http://127.0.0.1:8787//", apiKey: nil).baseURL == "http://127.0.0.1:8787")
        let environment = StoreConfiguration.fromEnvironment(["JIGSAWSTACK_API_KEY": " sk_live_123\n"])
        #expect(environment.apiKey?.secret == "sk_live_123")
        #expect(environment.baseURL == StoreConfiguration.defaultBaseURL)
        #expect(!"\(environment)".contains("sk_live_123"))
        #expect(environment.apiKey?.redact("key sk_live_123 leaked") == "key <redacted> leaked")
    }
}
