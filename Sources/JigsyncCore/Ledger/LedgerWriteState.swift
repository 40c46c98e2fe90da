/// Whether the ledger's writes are going through, as its owner last saw them.
///
/// A write that fails (a full disk, the file deleted or replaced under the owner) is kept in
/// memory and retried with a growing delay; `failure` stays set until a retry commits. The owner
/// must not send what it cannot record, so the scheduler holds uploads while `failure` is set.
/// `sequence` grows with every change, so a consumer that receives states out of order (through
/// separate tasks) keeps the newest.
public struct LedgerWriteState: Sendable {
    /// Counts the changes between failing and working since the ledger was opened.
    public let sequence: Int
    /// Why writes fail now, or nil when the last write committed.
    public let failure: LedgerError?

    public var isFailing: Bool { failure != nil }
}

/// How long the ledger waits before it tries a failed write again: short at first (a brief
/// hiccup costs little), doubling to a ceiling (a disk that stays full costs one attempt per
/// `maximum`). There is no timer at all while writes succeed.
public struct LedgerRetryDelay: Sendable {
    public var initial: Duration
    public var maximum: Duration

    /// 250 ms doubling to 5 s: a freed disk is noticed within 5 s, and a full one costs little.
    public static let standard = LedgerRetryDelay(initial: .milliseconds(250), maximum: .seconds(5))

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }
}
