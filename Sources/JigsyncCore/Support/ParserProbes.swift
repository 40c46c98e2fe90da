import Foundation

/// The parsers of outside input, each driven by arbitrary bytes and checked for what must hold
/// whatever the bytes: the libFuzzer targets in `Fuzz/` call these, and the corpus regression
/// test runs every input kept in `Fuzz/Corpus/`. A violated property is a `ProbeFailure`.
enum ParserProbes {
    struct ProbeFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Every probe by name (`FUZZ_PROBE`, and the folder of its corpus in `Fuzz/Corpus/`).
    static let names = ["serverAnswer", "configuration", "inotifyEvents", "controlRequest"]

    static func named(_ name: String) -> (@Sendable (Data) throws(ProbeFailure) -> Void)? {
        switch name {
        case "serverAnswer": serverAnswer
        case "configuration": configuration
        case "inotifyEvents": inotifyEvents
        case "controlRequest": controlRequest
        default: nil
        }
    }

    /// The secret key the server-answer probe uses; no message may ever carry it.
    static let probeSecret = "sk_fuzz_secret_0123456789"

    /// An answer's head (status line and header lines, ended by a blank line) and its body, as
    /// a server could send them: read as an upload's and a delete's answer. No crash, no
    /// message built from them carries the secret key (a server or proxy can echo it back), and
    /// a body the upload answer's own reader takes reads the same through `JSONDecoder`.
    static func serverAnswer(_ bytes: Data) throws(ProbeFailure) {
        guard let apiKey = APIKey(probeSecret) else { throw ProbeFailure(description: "the probe key is refused") }
        var outcome = CurlOutcome()
        let head: Data, body: Data
        if let range = bytes.range(of: Data("\n\n".utf8)) {
            head = bytes[..<range.lowerBound]
            body = bytes[range.upperBound...]
        } else {
            head = bytes
            body = Data()
        }
        for line in head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            _ = CurlTransfer.apply(headerLine: String(decoding: line, as: UTF8.self), to: &outcome)
        }
        outcome.body = Data(body)
        // Either nothing or a 5 MB body was sent: an answer's `size` is compared with it.
        outcome.sentBytes = body.count % 2 == 0 ? 0 : 5_000_000
        outcome.sentSHA256 = String(repeating: "0", count: 64)
        var messages: [String] = []
        do {
            messages.append(try FileStoreClient.uploadResult(outcome, asked: "in/a.txt", apiKey: apiKey).key)
        } catch {
            messages.append(error.description)
        }
        do {
            try FileStoreClient.deleteOutcome(outcome, apiKey: apiKey)
        } catch {
            messages.append(error.description)
        }
        _ = ServerWait.wait(from: outcome.headers)
        _ = RateLimitStatus(headers: outcome.headers)
        if let plain = UploadAnswer.plain(outcome.body) {
            let decoded = try? JSONDecoder().decode(UploadAnswer.self, from: outcome.body)
            guard decoded == plain else {
                throw ProbeFailure(description: "the answer \(FileStoreClient.quote(outcome.body)) reads \(plain) but JSONDecoder reads \(String(describing: decoded))")
            }
        }
        if let leak = messages.first(where: { $0.contains(probeSecret) }) {
            throw ProbeFailure(description: "a message built from the server's answer carries the secret key: \(leak.prefix(200))")
        }
    }

    /// The text of a configuration file: a configuration or an error naming the file.
    static func configuration(_ bytes: Data) throws(ProbeFailure) {
        let path = "/nonexistent/jigsync-probe/config.yaml"
        do {
            _ = try ConfigurationLoader.parse(String(decoding: bytes, as: UTF8.self), path: path)
        } catch {
            guard error.description.hasPrefix(path) else {
                throw ProbeFailure(description: "a configuration error that does not name the file: \(error.description.prefix(200))")
            }
        }
    }

    /// What one `read` of an inotify descriptor could return: events whose names fit in the
    /// bytes given (AddressSanitizer, in the fuzz build, catches any read past them).
    static func inotifyEvents(_ bytes: Data) throws(ProbeFailure) {
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        defer { copy.deallocate() }
        bytes.copyBytes(to: copy.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        let events = Inotify.parse(UnsafeRawBufferPointer(start: copy, count: bytes.count))
        if events.reduce(0, { $0 + $1.name.count }) > bytes.count {
            throw ProbeFailure(description: "event names longer than the buffer")
        }
    }

    /// One line sent to the control socket: a request (which encodes again) or refused.
    static func controlRequest(_ bytes: Data) throws(ProbeFailure) {
        guard let request = ControlServer.request(from: bytes) else { return }
        guard (try? JSONEncoder().encode(request)) != nil else {
            throw ProbeFailure(description: "a decoded request does not encode")
        }
    }
}
