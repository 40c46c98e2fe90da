@testable import JigsyncCore
import Testing

/// The head of an answer as curl hands it over, a line at a time, parsed as bytes.
@Suite("Answer heads")
struct AnswerHeadTests {
    private func parse(_ lines: [String]) -> (outcome: CurlOutcome, ends: [Bool]) {
        var outcome = CurlOutcome()
        let ends = lines.map { CurlTransfer.apply(headerLine: $0, to: &outcome) }
        return (outcome, ends)
    }

    @Test("status lines, names lower-cased, values trimmed of HTTP's spaces, the blank line ends the block")
    func lines() {
        let (outcome, ends) = parse([
            "HTTP/1.1 100 Continue\r\n", "X-Early: dropped\r\n", "\r\n",
            "HTTP/1.1 429 Too Many Requests\r\n", "X-Jigsaw-Rate-Limit-Remaining:  0 \r\n",
            "Retry-After:\t1\r\n", "Empty:\r\n", "no colon here\r\n", "Content-Type: application/json; charset=utf-8\r\n",
            "X-Odd: a:b: c\r\n", "\r\n",
        ])
        #expect(outcome.status == 429)
        #expect(outcome.headers == ["x-jigsaw-rate-limit-remaining": "0", "retry-after": "1", "empty": "",
                                    "content-type": "application/json; charset=utf-8", "x-odd": "a:b: c"])
        #expect(ends == [false, false, true, false, false, false, false, false, false, false, true])
    }

    @Test("a status that is not a number is 0 (no answer to use), whatever follows", arguments: [
        ("HTTP/2 200\r\n", 200), ("HTTP/1.1  204  No Content\r\n", 204), ("HTTP/1.1 abc\r\n", 0), ("HTTP/1.1 20x OK\r\n", 0),
        ("HTTP/1.1\r\n", 0), ("HTTP/1.1 99999999999999999999\r\n", 0), ("HTTP/1.1 -1\r\n", 0),
    ])
    func statuses(line: String, status: Int) {
        #expect(parse([line]).outcome.status == status)
    }

    @Test("names and values that are not UTF-8 or not ASCII are kept, repaired, never a crash")
    func oddBytes() {
        var outcome = CurlOutcome()
        let bytes: [UInt8] = Array("X-Ünïcode: välue ".utf8) + [0xFF, 0x0D, 0x0A]
        _ = bytes.withUnsafeBytes { CurlTransfer.apply(headerBytes: $0, to: &outcome) }
        #expect(outcome.headers.count == 1)
        #expect(outcome.headers.values.first?.hasPrefix("välue") == true)
    }
}
