import Foundation
@testable import JigsyncCore
import Testing

/// `ISO8601Text` stands in for Foundation's formatters in `status`, `events`, `versions` and the
/// log: its text must be theirs, digit for digit.
@Suite struct ISO8601TextTests {
    /// Milliseconds from 1970 to 2200: fixed edges (leap days, century years, the last
    /// millisecond of a day and of a year) and a seeded spread.
    static let samples: [Int64] = {
        var values: [Int64] = [0, 1, 999, 1000, 86_399_999, 86_400_000,
                               951_782_400_000,       // 2000-02-29
                               951_868_799_999,       // 2000-02-29T23:59:59.999
                               4_107_542_400_000,     // 2100-03-01 (2100 is no leap year)
                               1_795_837_134_567, 1_704_067_199_999, 1_709_164_800_000,
                               7_258_118_399_999]     // 2199-12-31T23:59:59.999
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<3000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values.append(Int64(state >> 22) % 7_258_118_400_000)
        }
        return values
    }()

    @Test func matchesISO8601DateFormatterWithMilliseconds() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for ms in Self.samples {
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            #expect(ISO8601Text.utc(milliseconds: ms, fractional: true) == reference.string(from: date), "\(ms)")
        }
    }

    @Test func matchesISO8601DateFormatterWithoutFraction() {
        let reference = ISO8601DateFormatter()
        for ms in Self.samples {
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            #expect(ISO8601Text.utc(date, fractional: false) == reference.string(from: date), "\(ms)")
            #expect(ISO8601Text.utc(milliseconds: ms, fractional: false) == date.ISO8601Format(), "\(ms)")
        }
    }

    /// Events stamp `Date()`, which carries sub-millisecond digits: truncated as the style does.
    @Test func matchesISO8601FormatStyleOnArbitraryDates() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var state: UInt64 = 42
        for ms in Self.samples {
            state = state &* 6_364_136_223_846_793_005 &+ 1
            let date = Date(timeIntervalSince1970: Double(ms) / 1000 + Double(state >> 44) / 1e10)
            #expect(ISO8601Text.utc(date, fractional: true) == style.format(date), "\(date.timeIntervalSince1970)")
        }
    }

    @Test func knownValues() {
        #expect(ISO8601Text.utc(milliseconds: 0, fractional: true) == "1970-01-01T00:00:00.000Z")
        #expect(ISO8601Text.utc(milliseconds: -1, fractional: true) == "1969-12-31T23:59:59.999Z")
        #expect(ISO8601Text.utc(milliseconds: 951_868_799_999, fractional: false) == "2000-02-29T23:59:59Z")
        #expect(ISO8601Text.utc(milliseconds: 4_107_542_400_000, fractional: true) == "2100-03-01T00:00:00.000Z")
    }
}
