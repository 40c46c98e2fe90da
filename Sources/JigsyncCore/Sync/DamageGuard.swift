import Foundation

/// How much change within a window looks like damage (ransomware, a bad script, a wrong
/// `rsync --delete`) rather than a person editing files.
public struct DamageGuardSettings: Sendable, Equatable {
    /// Off only when asked (`guard.enabled: false`): the API keeps no versions, so an overwrite
    /// of a good remote copy with garbage cannot be undone.
    public var enabled = true
    /// More than this many stored files of one folder changing within `window` trips the guard.
    public var maxOverwrites = 200
    /// More than this share (percent) of a folder's stored files changing within `window` trips it.
    public var maxPercent = 25.0
    public var window: Duration = .seconds(60)
    /// `--trust-changes`: forget a hold left by an earlier run, and send what the start-up
    /// reconcile finds changed without counting it; the guard counts from then on.
    public var trustChanges = false

    public init() {}

    /// The percent rule needs more than this many changed files: editing 3 of a folder's 8 files
    /// is an edit session, not damage, and the count rule stays in force for larger bursts.
    public static let percentFloor = 10
}

/// A folder's overwrites held by the damage guard, as the ledger keeps it across restarts.
public struct DamageHold: Sendable, Equatable {
    public var folder: String
    /// What was seen when it tripped, for people (status, the log, the rows' last error).
    public var reason: String
    /// Unix milliseconds when it tripped.
    public var since: Int64
}

/// Counts distinct files of one folder whose stored copy would be overwritten, within a sliding
/// window. Time is passed in, so tests drive it.
struct OverwriteWindow: Sendable {
    let window: Duration
    private var order: [(path: PathBytes, at: ContinuousClock.Instant)] = []
    private var head = 0
    private var counted: Set<PathBytes> = []

    init(window: Duration) { self.window = window }

    /// Notes a change of `path` at `now` (a path changed twice within the window counts once: an
    /// editor saving one file over and over is one change) and returns the distinct count.
    mutating func note(_ path: PathBytes, at now: ContinuousClock.Instant) -> Int {
        while head < order.count, now - order[head].at > window {
            counted.remove(order[head].path)
            head += 1
        }
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        if counted.insert(path).inserted { order.append((path, now)) }
        return counted.count
    }
}

/// Stops overwriting in a folder once too many of its stored files change at once: their rows
/// stay `pending` with the reason, new files still go up, and the hold lasts (in the ledger)
/// until `jigsync resume --folder PATH` or a start with `--trust-changes`.
///
/// `@unchecked Sendable`: every field is guarded by `lock` (the planner's task writes, the
/// status reporter and the control socket read).
public final class DamageGuard: @unchecked Sendable {
    public let settings: DamageGuardSettings
    private let lock = NSLock()
    private var windows: [FolderID: OverwriteWindow] = [:]
    private var holds: [FolderID: DamageHold] = [:]
    /// Files whose overwrite is held, per folder (rebuilt after a restart as the reconcile meets them).
    private var held: [FolderID: Set<PathBytes>] = [:]

    /// Whether changes are sent uncounted (`--trust-changes`, until the start-up reconcile is done).
    private var trusting: Bool

    public init(settings: DamageGuardSettings = DamageGuardSettings()) {
        self.settings = settings
        trusting = settings.trustChanges
    }

    /// Whether the guard judges changes now: on, and not trusting the start-up's changes.
    var isJudging: Bool { settings.enabled && !lock.withLock { trusting } }

    /// The start-up reconcile is done: from now on changes are counted.
    func endTrust() { lock.withLock { trusting = false } }

    /// The holds an earlier run left in the ledger.
    func load(_ list: [DamageHold]) {
        lock.withLock { for hold in list { holds[FolderID(hold.folder)] = hold } }
    }

    /// Whether sending `record` would replace a stored copy with other content.
    static func isOverwrite(_ record: FileRecord) -> Bool {
        guard let stored = record.uploadedSHA256 else { return false }
        return record.sha256 != stored   // nil: not hashed yet, so it may differ
    }

    /// The hold in force for `folder`, if any.
    func hold(for folder: FolderID) -> DamageHold? { lock.withLock { holds[folder] } }

    /// Notes that `record`'s stored copy is about to be overwritten and returns how many distinct
    /// files of its folder changed within the window.
    func noteChange(_ record: FileRecord, at now: ContinuousClock.Instant = .now) -> Int {
        let folder = FolderID(record.folder)
        return lock.withLock {
            var window = windows[folder] ?? OverwriteWindow(window: settings.window)
            defer { windows[folder] = window }
            return window.note(PathBytes(record.path), at: now)
        }
    }

    /// Whether `changed` files of `stored` (nil when not counted) are past a limit; the reason
    /// when they are.
    func verdict(changed: Int, stored: Int?) -> String? {
        let limits = "limits \(settings.maxOverwrites) files or \(Self.percent(settings.maxPercent)) % within \(settings.window.readable)"
        if changed > settings.maxOverwrites {
            return "\(changed) stored files changed within \(settings.window.readable) (\(limits))"
        }
        if let stored, stored > 0, changed > DamageGuardSettings.percentFloor,
           Double(changed) * 100 > settings.maxPercent * Double(stored) {
            return "\(changed) of \(stored) stored files changed within \(settings.window.readable) (\(limits))"
        }
        return nil
    }

    /// Whether the count needs the folder's number of stored files to be judged (the percent rule).
    func needsStoredCount(changed: Int) -> Bool {
        changed > DamageGuardSettings.percentFloor && changed <= settings.maxOverwrites
    }

    /// Starts a hold of `folder` for `reason`; returns it.
    func trip(_ folder: FolderID, reason: String) -> DamageHold {
        lock.withLock {
            let hold = DamageHold(folder: folder.path, reason: reason, since: Int64(Date().timeIntervalSince1970 * 1000))
            holds[folder] = hold
            return hold
        }
    }

    /// Remembers that `record`'s overwrite is held.
    func noteHeld(_ record: FileRecord) {
        _ = lock.withLock { held[FolderID(record.folder), default: []].insert(PathBytes(record.path)) }
    }

    /// Ends the hold of `folder` (the operator looked); its count starts afresh. Returns whether
    /// there was one.
    func release(_ folder: FolderID) -> Bool {
        lock.withLock {
            windows[folder] = nil
            held[folder] = nil
            return holds.removeValue(forKey: folder) != nil
        }
    }

    /// The folders held, with how many overwrites each holds now, for status.
    var heldFolders: [(hold: DamageHold, files: Int)] {
        lock.withLock {
            holds.values.sorted { $0.folder < $1.folder }.map { ($0, held[FolderID($0.folder)]?.count ?? 0) }
        }
    }

    /// The paths held, as "folder/path", for a one-shot sync's report.
    var heldPaths: [String] {
        lock.withLock { held.flatMap { folder, paths in paths.map { folder.path + "/" + $0.string } }.sorted() }
    }

    /// The message a held folder shows in status and in its rows.
    static func message(_ hold: DamageHold, files: Int? = nil) -> String {
        let count = files.map { ": \($0) overwrite(s) held" } ?? ""
        return "damage guard tripped in \(hold.folder): \(hold.reason); overwrites stopped (new files still go up)\(count); "
            + "`jigsync resume --folder \(hold.folder)` lets them go"
    }

    private static func percent(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
