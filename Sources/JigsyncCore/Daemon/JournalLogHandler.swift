import Foundation
import Glibc
import Logging

/// Log lines on standard error: with syslog priority prefixes (`<3>` … `<7>`) when
/// `$JOURNAL_STREAM` says standard error is the journal, so `journalctl -p` filters them;
/// plain with a timestamp otherwise.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let toJournal: Bool

    public init(label: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        toJournal = Self.standardErrorIsJournal(environment)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var text = "\(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        if !merged.isEmpty { text += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        let line: String
        if toJournal {
            line = "<\(Self.priority(event.level))>\(text)\n"
        } else {
            line = "\(ISO8601Text.utc(Date(), fractional: false)) \(event.level) \(text)\n"
        }
        StandardError.write(line)
    }

    /// syslog priorities: 3 error … 7 debug.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: 2
        case .error: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug, .trace: 7
        }
    }

    /// `$JOURNAL_STREAM` is "device:inode" of the journal's stream; it must be standard error's.
    static func standardErrorIsJournal(_ environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var s = stat()
        guard fstat(STDERR_FILENO, &s) == 0 else { return false }
        return UInt64(s.st_dev) == device && UInt64(s.st_ino) == inode
    }
}
