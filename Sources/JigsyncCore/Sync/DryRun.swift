import Foundation

/// What a sync would do, found without doing any of it (`sync --dry-run`, `run --dry-run`): the
/// same reconcile as a real run, against the ledger read-only (never created, migrated or
/// recovered), and nothing sent. Files are read only to hash the ones whose stat moved, as a real
/// reconcile does.
public enum DryRun {
    /// What would happen to one file.
    public enum Action: String, Sendable, CaseIterable {
        /// A new file (no stored copy): it would be uploaded.
        case upload
        /// A changed file whose stored copy would be replaced.
        case overwrite
        /// Gone from the folder; the folder's delete policy would delete its remote copy.
        case deleteRemote = "delete-remote"
        /// Gone from the folder; the remote copy would be kept.
        case keepRemote = "keep-remote"
        /// Left out: excluded by a pattern, not a regular file, too large.
        case skip
    }

    public struct Entry: Sendable {
        public var action: Action
        /// The absolute path of the file.
        public var path: String
        public var key: String
        /// Why (for a skip, a held overwrite, a kept remote copy).
        public var reason: String?
    }

    public struct Report: Sendable {
        public var entries: [Entry] = []
        /// Files examined that would stay as they are.
        public var unchanged = 0
        /// Folders where the damage guard would hold the overwrites, with why.
        public var guardHolds: [String] = []
        /// Directories that could not be read.
        public var problems: [String] = []

        public func count(_ action: Action) -> Int { entries.lazy.filter { $0.action == action }.count }
    }

    /// Plans every folder against the ledger at `ledgerPath` (absent: every file is new).
    /// - Parameter deleteByDefault: the delete policy of folders that name none.
    public static func plan(_ specs: [FolderSpec], ledgerPath: String, maxSize: Int64, deleteByDefault: Bool,
                            damage settings: DamageGuardSettings) async throws -> Report {
        let reader = FileManager.default.fileExists(atPath: ledgerPath) ? try LedgerReader(path: ledgerPath) : nil
        let heldFolders = Set(try reader?.damageHolds().map(\.folder) ?? [])
        let damage = DamageGuard(settings: settings)
        var report = Report()
        for spec in specs {
            let folder = try await FSQueue.run { () throws(FSError) in try Folder(path: spec.path) }
            let full = { (record: FileRecord) in spec.path + "/" + record.path }
            let deletes = spec.deletesRemote ?? deleteByDefault
            var touched = Set<PathBytes>()
            var overwrites = 0
            let plan = try await Reconciler(spec: spec, maxSize: maxSize)
                .reconcile(folder, known: ReaderRows(reader: reader, folder: spec.path)) { plan in
                    for record in plan.due {
                        touched.insert(PathBytes(record.path))
                        let overwrite = DamageGuard.isOverwrite(record)
                        if overwrite { overwrites += 1 }
                        report.entries.append(Entry(action: overwrite ? .overwrite : .upload, path: full(record), key: record.key))
                    }
                    for record in plan.changedRecords {
                        touched.insert(PathBytes(record.path))
                        switch record.state {
                        case .deleted where deletes && record.mayBeStored:
                            report.entries.append(Entry(action: .deleteRemote, path: full(record), key: record.key))
                        case .deleted:
                            report.entries.append(Entry(action: .keepRemote, path: full(record), key: record.key,
                                                        reason: record.mayBeStored ? "the folder keeps remote copies" : "never stored"))
                        case .excluded, .skipped, .failed:
                            report.entries.append(Entry(action: .skip, path: full(record), key: record.key, reason: record.lastError))
                        default:
                            break   // a refreshed row: the same content as stored
                        }
                    }
                }
            report.unchanged += plan.unchanged
            report.problems += plan.problems
            // Files left out before and still left out.
            try reader?.forEach(states: [.excluded, .skipped, .failed], folder: spec.path) { record in
                if !touched.contains(PathBytes(record.path)) {
                    report.entries.append(Entry(action: .skip, path: full(record), key: record.key, reason: record.lastError))
                }
            }
            guard settings.enabled, overwrites > 0 else { continue }
            if heldFolders.contains(spec.path) {
                report.guardHolds.append("\(spec.path): the damage guard holds overwrites here since an earlier run; `jigsync resume --folder` or --trust-changes lets them go")
            } else if !settings.trustChanges,
                      let reason = damage.verdict(changed: overwrites, stored: try reader?.storedCount(folder: spec.path) ?? 0) {
                report.guardHolds.append("\(spec.path): the damage guard would stop overwriting after the first ones: \(reason)")
            }
        }
        report.entries.sort { ($0.action.rawValue, $0.path) < ($1.action.rawValue, $1.path) }
        return report
    }
}
