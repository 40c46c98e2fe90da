import Foundation

/// UTC timestamps as ISO 8601 text (`2026-11-28T03:38:52Z`, `2026-11-28T03:38:52.123Z`), from
/// integers, without Foundation's formatters.
///
/// `ISO8601DateFormatter`, `Date.ISO8601FormatStyle` and `ISO8601Format()` build an ICU calendar
/// or time zone even for UTC, and the first one maps several megabytes of ICU data and code into
/// the process for good (about 5 MB of RSS in `jigsync run` and `jigsync status`). The output is
/// theirs, digit for digit: fractional seconds are milliseconds, truncated, never rounded.
public enum ISO8601Text {
    /// `milliseconds` since 1970-01-01T00:00:00Z, with `.SSS` when `fractional`.
    public static func utc(milliseconds: Int64, fractional: Bool) -> String {
        let (seconds, millis) = floorDivide(milliseconds, 1000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civil(daysSince1970: days)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        if year < 0 { out.append(UInt8(ascii: "-")) }
        append(abs(year), digits: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        append(month, digits: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        append(day, digits: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        append(secondOfDay / 3600, digits: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        append(secondOfDay / 60 % 60, digits: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        append(secondOfDay % 60, digits: 2, to: &out)
        if fractional {
            out.append(UInt8(ascii: "."))
            append(millis, digits: 3, to: &out)
        }
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `date` in UTC, its milliseconds truncated. Computed as `Date.ISO8601FormatStyle` does, from
    /// the seconds since 2001 and the nanoseconds of the second: `timeIntervalSince1970 * 1000`
    /// is another rounding, and one date in about 1,500 would end a millisecond later.
    public static func utc(_ date: Date, fractional: Bool) -> String {
        let interval = date.timeIntervalSinceReferenceDate
        let seconds = interval.rounded(.down)
        guard let whole = Int64(exactly: seconds), abs(whole) < 1 << 40 else { return utc(milliseconds: 0, fractional: fractional) }
        let nanoseconds = Int64((interval - seconds) * 1e9)
        return utc(milliseconds: (whole + 978_307_200) * 1000 + nanoseconds / 1_000_000, fractional: fractional)
    }

    /// Quotient and remainder rounded toward negative infinity (the remainder is never negative).
    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    /// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's
    /// `civil_from_days`: 400-year eras of 146,097 days, years starting in March).
    private static func civil(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097                                              // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365   // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // 0...365, from March 1
        let monthFromMarch = (5 * dayOfYear + 2) / 153                                // 0...11
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func append(_ value: Int64, digits: Int, to out: inout [UInt8]) {
        var text: [UInt8] = []
        var v = value
        repeat {
            text.append(UInt8(ascii: "0") + UInt8(v % 10))
            v /= 10
        } while v > 0
        for _ in text.count..<max(digits, text.count) { out.append(UInt8(ascii: "0")) }
        out.append(contentsOf: text.reversed())
    }
}
