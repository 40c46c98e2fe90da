import Foundation

/// Compares a folder on disk with its ledger rows and says what is due.
///
/// An unchanged file costs one `lstat` (from the walk): when size, times, inode and device match
/// an uploaded row that was examined well after its last change, nothing is read. A known file
/// whose stat moved is hashed: the same hash as uploaded only refreshes the row. A new file is
/// not hashed here; the uploader hashes it while sending.
public struct Reconciler: Sendable {
    public let spec: FolderSpec
    public let maxSize: Int64

    /// What one pass found.
    public struct Plan: Sendable {
        /// Rows to write (new, changed, refreshed, skipped, excluded, deleted).
        public var changedRecords: [FileRecord] = []
        /// Rows due for upload.
        public var due: [FileRecord] = []
        public var examined = 0
        public var unchanged = 0
        public var hashed = 0
        /// Directories or paths that could not be read, with why.
        public var problems: [String] = []
        /// Due rows (of a plan of paths) whose file has other names: a write through one name
        /// changes them all, so the planner looks at the other names' rows too.
        public var linked: [FileRecord] = []
        /// Whether there is nothing to write or queue.
        public var isEmpty: Bool { changedRecords.isEmpty && due.isEmpty }
        /// Records `record` as gone from the folder.
        mutating func gone(_ record: FileRecord, at now: Int64) {
            var gone = record
            gone.state = .deleted
            gone.lastError = "no longer in the folder (the remote copy is kept)"
            gone.examinedAt = now
            changedRecords.append(gone)
        }
    }

    public init(spec: FolderSpec, maxSize: Int64) {
        self.spec = spec
        self.maxSize = maxSize
    }

    /// Most entries one trip to the FS queue lists, in whole directories (a larger directory is
    /// listed alone), and most directories per trip: a tree of many small directories costs few
    /// hand-offs, and a pass holds one such batch at a time, never a folder's entries or rows.
    static let batchEntries = 1024
    static let batchDirectories = 64

    /// Walks the folder (or the directory `under` beneath it) a batch of directories at a time:
    /// lists them, reads their rows from `known` (one indexed query per directory), compares,
    /// and hands the batch's plan to `apply` before the next batch is listed. Rows of files gone
    /// from a listed directory become `deleted` with it; rows in directories the walk did not
    /// list (gone, moved away, unreadable, replaced by a file) are found at the end by asking
    /// `known` which directories hold live rows. Paths are matched by their bytes: names equal
    /// only after Unicode normalization are two files.
    /// - Returns: the totals (counts and problems; its record lists are empty: they went to `apply`).
    public func reconcile(_ folder: Folder, under directory: String = "", known: some KnownRows,
                          apply: (Plan) async throws -> Void) async throws -> Plan {
        var totals = Plan()
        var listed = Set<PathBytes>()
        var pending = [directory]
        var isTop = true
        while !pending.isEmpty {
            let batch = Array(pending.suffix(Self.batchDirectories))
            let top = isTop
            let (listings, taken, problems) = try await FSQueue.run { () throws(FSError) -> ([DirectoryListing], Int, [String]) in
                var listings: [DirectoryListing] = []
                var problems: [String] = []
                var entries = 0
                var taken = 0
                for directory in batch.reversed() where entries < Self.batchEntries {   // the stack's top first
                    taken += 1
                    guard let listing = try FolderWalker.list(folder, directory: directory, isTop: top,
                                                              problems: { problems.append($0.description) }) else { continue }
                    entries += listing.entries.count
                    listings.append(listing)
                }
                return (listings, taken, problems)
            }
            pending.removeLast(taken)
            isTop = false
            totals.problems += problems
            for listing in listings {
                listed.insert(PathBytes(listing.prefix))
                pending += listing.subdirectories
            }
            var plan = Plan()
            // A first run finds every file due: one allocation for them, not a doubling per
            // growth with a copy of every row so far (untouched capacity costs no memory).
            plan.due.reserveCapacity(listings.reduce(0) { $0 + $1.entries.count })
            // Indexed, not zipped: a row matched is removed from the array's own dictionary
            // (a `var` copy of it would copy the whole table first).
            var rows = try await known.rows(inDirectories: listings.map(\.prefix))
            for index in listings.indices {
                for entry in listings[index].entries {
                    plan.examined += 1
                    await classify(entry, known: rows[index].removeValue(forKey: PathBytes(entry.relativePath)), folder: folder, into: &plan)
                }
                let now = Self.wallNanoseconds()
                for record in rows[index].values where record.state != .deleted { plan.gone(record, at: now) }
            }
            totals.examined += plan.examined
            totals.unchanged += plan.unchanged
            totals.hashed += plan.hashed
            if !plan.isEmpty { try await apply(plan) }
        }
        try await gone(under: directory, known: known, except: listed, apply: apply)
        return totals
    }

    /// Marks `deleted` the rows at and beneath `directory` ("" for the whole folder) whose
    /// directory is not in `listed`: the directory went, so did its files. A batch of
    /// directories' rows at a time goes to `apply`.
    public func gone(under directory: String, known: some KnownRows, except listed: Set<PathBytes> = [],
                     apply: (Plan) async throws -> Void) async throws {
        var plan = Plan()
        // A file's row where the directory now is (or was).
        if !directory.isEmpty, let row = try await known.row(at: directory), row.state != .deleted {
            plan.gone(row, at: Self.wallNanoseconds())
        }
        let prefix = directory.isEmpty ? "" : directory + "/"
        let orphaned = try await known.directoriesWithLiveRows(under: prefix).filter { !listed.contains(PathBytes($0)) }
        for start in stride(from: 0, to: orphaned.count, by: Self.batchDirectories) {
            let batch = Array(orphaned[start..<min(start + Self.batchDirectories, orphaned.count)])
            let now = Self.wallNanoseconds()
            for rows in try await known.rows(inDirectories: batch) {
                for record in rows.values where record.state != .deleted { plan.gone(record, at: now) }
            }
            try await apply(plan)
            plan = Plan()
        }
        if !plan.isEmpty { try await apply(plan) }
    }

    /// Looks at paths of the folder (the daemon's answer to a batch of events): one `lstat` each
    /// (each parent directory opened once, all in one trip to the FS queue), then the same rules as
    /// a walk. A path that is gone yields its row as `deleted` in `changedRecords`; a path that
    /// cannot be looked at is named in `problems` and left as it is.
    /// - Parameter known: the ledger's rows of these paths.
    public func reconcile(paths: [String], in folder: Folder, known: [PathBytes: FileRecord]) async -> Plan {
        var plan = Plan()
        let stats = await FSQueue.run { folder.lstat(paths) }
        let now = Self.wallNanoseconds()
        for (relativePath, result) in zip(paths, stats) {
            let known = known[PathBytes(relativePath)]
            let stat: FileStat?
            switch result {
            case .success(let found): stat = found
            case .failure(let error):
                plan.problems.append(error.description)
                continue
            }
            guard let stat else {
                if let known, known.state != .deleted { plan.gone(known, at: now) }
                continue
            }
            if stat.kind == .directory { continue }
            let skip: String? = switch stat.kind {
            case .regular: nil
            case .symlink: "is a symbolic link (links are never followed)"
            default: "is a \(stat.kind.rawValue), not a regular file"
            }
            plan.examined += 1
            let dueBefore = plan.due.count
            await classify(WalkEntry(relativePath: relativePath, stat: stat, skipReason: skip), known: known, folder: folder, into: &plan)
            if stat.linkCount > 1 { plan.linked.append(contentsOf: plan.due[dueBefore...]) }
        }
        return plan
    }

    private func classify(_ entry: WalkEntry, known: FileRecord?, folder: Folder, into plan: inout Plan) async {
        let now = Self.wallNanoseconds()
        let key = spec.key(for: entry.relativePath)
        func fresh(_ state: FileState, reason: String? = nil) -> FileRecord {
            var record = known ?? FileRecord(folder: spec.path, path: entry.relativePath, key: key, stat: entry.stat, state: state, examinedAt: now)
            record.key = key
            record.update(stat: entry.stat, examinedAt: now)
            record.state = state
            record.lastError = reason
            return record
        }
        if let reason = entry.skipReason ?? spec.filter.exclusionReason(entry.relativePath).map({ "excluded: \($0)" }) {
            let state: FileState = entry.skipReason == nil ? .excluded : .skipped
            if known?.state != state || known?.lastError != reason { plan.changedRecords.append(fresh(state, reason: reason)) }
            return
        }
        if entry.stat.size > maxSize {
            if known?.state == .failed && known?.matches(entry.stat) == true { return }
            var record = fresh(.failed, reason: "exceeds the \(Self.describe(maxSize)) limit (\(entry.stat.size) bytes)")
            record.sha256 = nil
            plan.changedRecords.append(record)
            return
        }
        guard var known, known.key == key else {
            plan.due.append(fresh(.pending))
            return
        }
        // A remote delete was owed, and the file is back: if it still has the content stored,
        // the delete is simply no longer owed; otherwise it is sent again like any change.
        let wasDeleting = known.state == .deleting && known.uploadedSHA256 != nil
        if wasDeleting {
            known.state = .uploaded
            known.lastError = nil
            known.attempts = 0
            known.nextAttemptAt = nil
        }
        switch known.state {
        case .uploaded where known.matches(entry.stat) && !known.isRacy():
            plan.unchanged += 1
            if wasDeleting { plan.changedRecords.append(known) }
        case .uploaded:
            // The stat moved (or cannot vouch for the content): the hash decides.
            let relative = entry.relativePath
            guard let hashed = try? await FSQueue.run({ () throws(FSError) in try folder.hash(relative) }) else {
                plan.due.append(fresh(.pending))
                return
            }
            plan.hashed += 1
            if hashed.sha256 == known.uploadedSHA256 {
                var refreshed = known
                refreshed.update(stat: hashed.stat, examinedAt: now)
                refreshed.sha256 = hashed.sha256
                plan.changedRecords.append(refreshed)
                plan.unchanged += 1
            } else {
                var record = fresh(.pending)
                record.sha256 = hashed.sha256
                plan.due.append(record)
            }
        case .failed where known.matches(entry.stat):
            break   // permanent until the file changes
        case .pending, .uploading:
            var record = known
            record.state = .pending
            if !known.matches(entry.stat) { record.update(stat: entry.stat, examinedAt: now) }
            plan.due.append(record)
        default:
            var record = fresh(.pending)
            record.attempts = 0
            plan.due.append(record)
        }
    }

    /// "100 MB" for the default limit; exact bytes otherwise.
    static func describe(_ bytes: Int64) -> String {
        bytes == 100 * 1024 * 1024 ? "100 MB" : "\(bytes)-byte"
    }

    static func wallNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
