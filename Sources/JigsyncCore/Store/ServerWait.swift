import Foundation

/// Reads the wait a server asked for from its response headers.
///
/// `x-jigsaw-rate-limit-reset` is a Unix time in milliseconds on the *server's* clock; it is read
/// relative to the response's own `Date` header so a skewed local clock cannot turn it into a
/// negative or hour-long wait. `Retry-After` (seconds or an HTTP date) wins when present.
enum ServerWait {
    /// Longest wait taken from a header; beyond this the backoff policy decides.
    static let maximum: Duration = .seconds(300)

    /// - Parameters:
    ///   - headers: response headers with lower-cased names.
    ///   - now: the local wall clock, used only when the server sent no `Date`.
    static func wait(from headers: [String: String], now: Date = Date()) -> Duration? {
        // The server's clock, from its `Date` (whole seconds). When the local clock agrees with it
        // to within two seconds, the local clock is the finer of the two: a window that ends 10 ms
        // from now is not read as up to a second away (at 50 requests/s that second costs 50).
        let serverNow = headers["date"].flatMap(parseHTTPDate).map { abs(now.timeIntervalSince($0)) < 2 ? now : $0 }
        if let value = headers["retry-after"]?.trimmingCharacters(in: .whitespaces) {
            if let seconds = Double(value), seconds.isFinite {
                return clamp(seconds)
            }
            if let date = parseHTTPDate(value) {
                return clamp(date.timeIntervalSince(serverNow ?? now))
            }
        }
        if let value = headers["x-jigsaw-rate-limit-reset"], let millis = Double(value.trimmingCharacters(in: .whitespaces)) {
            let reset = Date(timeIntervalSince1970: millis / 1000)
            return clamp(reset.timeIntervalSince(serverNow ?? now))
        }
        return nil
    }

    private static func clamp(_ seconds: Double) -> Duration {
        let bounded = min(max(seconds, 0), Double(maximum.components.seconds))
        return .milliseconds(Int64((bounded * 1000).rounded(.up)))
    }

    /// Parses the IMF-fixdate form of RFC 9110 (`Sun, 06 Nov 1994 08:49:37 GMT`).
    static func parseHTTPDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text.trimmingCharacters(in: .whitespaces))
    }
}
