import Foundation
import Logging

/// Turns what the file system shows into ledger rows and due work, for `sync` and `run` alike.
///
/// It asks the `Reconciler` for a plan (of a whole folder, a directory, or one path), writes the
/// rows the plan changed, hands what is due to the scheduler, and applies the delete policy: a
/// file gone from a folder whose policy deletes remote copies becomes a `deleting` row, and the
/// scheduler sends its delete after `RemoteDeletes.delay`. Whatever is owed is ledger state first,
/// so it survives a restart; the scheduler only holds what is due now.
///
/// `@unchecked Sendable`: `specs` is guarded by `lock` (the control thread reads it); everything
/// else is immutable or itself thread-safe. Plans are applied from one task at a time (the
/// daemon's event loop, or `sync`).
public final class Planner: @unchecked Sendable {
    let ledger: Ledger
    let scheduler: UploadScheduler
    let folders: OpenFolders
    let deletes: RemoteDeletes
    let damage: DamageGuard
    let versions: RemoteVersions
    let maxSize: Int64
    let logger: Logger
    private let lock = NSLock()
    private var specs: [FolderID: FolderSpec] = [:]

    init(ledger: Ledger, scheduler: UploadScheduler, folders: OpenFolders, deletes: RemoteDeletes,
         damage: DamageGuard, versions: RemoteVersions, maxSize: Int64, logger: Logger) {
        self.ledger = ledger
        self.scheduler = scheduler
        self.folders = folders
        self.deletes = deletes
        self.damage = damage
        self.versions = versions
        self.maxSize = maxSize
        self.logger = logger
    }

    /// The folders planned for, with the daemon-wide delete policy for those that name none.
    func setFolders(_ list: [FolderSpec], deleteByDefault: Bool) {
        lock.withLock { specs = Dictionary(list.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }) }
        versions.setPolicy(list)
        deletes.setPolicy(Dictionary(list.map { ($0.id, $0.deletesRemote ?? deleteByDefault) }, uniquingKeysWith: { first, _ in first }))
    }

    /// The folder with this identity, if it is still configured.
    func spec(_ id: FolderID) -> FolderSpec? { lock.withLock { specs[id] } }

    /// The configured folder holding the absolute path `path`, and the path relative to it.
    func locate(_ path: String) -> (FolderSpec, String)? {
        lock.withLock {
            for spec in specs.values where path.hasPrefix(spec.path + "/") {
                return (spec, String(path.dropFirst(spec.path.count + 1)))
            }
            return nil
        }
    }

    /// Reconciles a folder (or the directory `under` beneath it) and applies the plan.
    @discardableResult
    func reconcile(_ id: FolderID, under directory: String = "") async -> Reconciler.Plan? {
        guard let spec = spec(id), let folder = folders[id.path] else { return nil }
        do {
            let known = try await ledger.records(folder: spec.path, under: directory)
            let plan = try await Reconciler(spec: spec, maxSize: maxSize).reconcile(folder, known: known, under: directory)
            for problem in plan.problems { logger.warning("\(problem)") }
            await apply(plan, spec: spec)
            return plan
        } catch let error as FSError where !directory.isEmpty && (error.code == ENOENT || error.code == ENOTDIR) {
            // The directory went (deleted, moved, replaced) between its event and its walk: a
            // race of every busy folder, not a problem. Its own event says what became of its rows.
            logger.debug("\(error.description.escapedForDisplay): gone before it was walked")
            return nil
        } catch {
            logger.warning("\(spec.path)/\(directory): \(error)")
            return nil
        }
    }

    /// Looks at paths (the daemon's answer to a batch of events), and at every other name of a
    /// file with hard links: a write through one name changes them all. Per folder, the batch
    /// costs one read of the ledger, one trip to the FS queue and one write, not one of each a file.
    ///
    /// A path in flight is looked at once its transfer has recorded its outcome (the scheduler
    /// replays it): reading its row now and writing a plan later would race the worker's write.
    func reconcile(paths watched: [WatchedPath]) async {
        var seen = Set<WatchedPath>()
        var byFolder: [(FolderID, [String])] = []
        for path in await scheduler.notInFlight(watched) where seen.insert(path).inserted {
            if let index = byFolder.firstIndex(where: { $0.0 == path.folder }) {
                byFolder[index].1.append(path.path)
            } else {
                byFolder.append((path.folder, [path.path]))
            }
        }
        for (id, paths) in byFolder {
            guard let spec = spec(id), let folder = folders[spec.path] else { continue }
            do {
                let known = try await ledger.records(folder: spec.path, paths: paths)
                let plan = await Reconciler(spec: spec, maxSize: maxSize).reconcile(paths: paths, in: folder, known: known)
                for problem in plan.problems { logger.warning("\(problem.escapedForDisplay)") }
                await apply(plan, spec: spec)
                for record in plan.linked where record.size > 0 {
                    try await reconcileOtherNames(of: record)
                }
            } catch {
                logger.warning("\(spec.path): \(error)")
            }
        }
    }

    /// The rows of the other names of `record`'s inode, looked at again.
    private func reconcileOtherNames(of record: FileRecord) async throws {
        for other in try await ledger.records(device: record.device, inode: record.inode)
        where other.folder != record.folder || other.path != record.path {
            guard let otherSpec = self.spec(FolderID(other.folder)), let otherFolder = folders[other.folder] else { continue }
            let otherPlan = await Reconciler(spec: otherSpec, maxSize: maxSize)
                .reconcile(paths: [other.path], in: otherFolder, known: [PathBytes(other.path): other])
            for problem in otherPlan.problems { logger.warning("\(problem.escapedForDisplay)") }
            await apply(otherPlan, spec: otherSpec)
        }
    }

    /// A directory left the folder (deleted or moved out): every row beneath it is gone.
    func directoryGone(_ watched: WatchedPath) async {
        guard let spec = spec(watched.folder),
              let known = try? await ledger.records(folder: spec.path, under: watched.path) else { return }
        var plan = Reconciler.Plan()
        let now = Reconciler.wallNanoseconds()
        for (_, record) in known where record.state != .deleted { plan.gone(record, at: now) }
        await apply(plan, spec: spec)
    }

    /// Writes what a plan changed, queues what is due, and turns deletes into owed remote deletes
    /// where the folder's policy says so: for every file the store holds, or may hold because an
    /// upload of it went out unconfirmed (a DELETE of a key never stored is answered 404: done).
    func apply(_ plan: Reconciler.Plan, spec: FolderSpec) async {
        var changed = plan.changedRecords
        var owed: [FileRecord] = []
        if deletes.deletesRemote(spec.id) {
            // The plan's rows may predate an upload recorded since: whether a copy may be stored
            // is the ledger's to say now.
            for index in changed.indices where changed[index].state == .deleted && !changed[index].mayBeStored {
                if let current = try? await ledger.record(folder: changed[index].folder, path: changed[index].path), current.mayBeStored {
                    changed[index].uploadedSHA256 = current.uploadedSHA256
                    changed[index].unconfirmedSend = current.unconfirmedSend
                }
            }
            for index in changed.indices where changed[index].state == .deleted
                && changed[index].mayBeStored {
                changed[index].state = .deleting
                changed[index].lastError = "deleted from the folder; the remote delete is due"
                owed.append(changed[index])
            }
        }
        // A plan says what is on disk; what the store holds is the workers' to record (a row read
        // before a transfer recorded its upload must not forget that copy).
        ledger.save(changed, keepingRemoteState: true)
        let ledger = self.ledger
        var offered: [FileRecord] = []
        offered.reserveCapacity(plan.due.count)
        for record in plan.due {
            if let held = await holdIfDamage(record) {
                ledger.save(held, keepingRemoteState: true)
            } else {
                offered.append(record)
            }
        }
        _ = await scheduler.offer(offered) { ledger.save($0, keepingRemoteState: true) }
        for record in owed { await scheduler.add(record, after: RemoteDeletes.delay) }
    }

    /// The damage guard's say on a due row: nil to send it, or the row to record instead
    /// (`pending`, saying why) when it would overwrite a stored copy in a folder whose recent
    /// changes look like damage. The guard trips here, once per folder: logged at error level
    /// and recorded in the ledger, so a restart keeps holding.
    private func holdIfDamage(_ record: FileRecord) async -> FileRecord? {
        guard damage.isJudging, DamageGuard.isOverwrite(record) else { return nil }
        let folder = FolderID(record.folder)
        var hold = damage.hold(for: folder)
        let changed = damage.noteChange(record)
        if hold == nil {
            let stored = damage.needsStoredCount(changed: changed) ? try? await ledger.storedCount(folder: record.folder) : nil
            guard let reason = damage.verdict(changed: changed, stored: stored) else { return nil }
            let tripped = damage.trip(folder, reason: reason)
            hold = tripped
            logger.error("\(DamageGuard.message(tripped))")
            do {
                try await ledger.saveDamageHold(tripped)
            } catch {
                logger.error("the damage guard's hold of \(record.folder) could not be recorded (a restart would forget it): \(error)")
            }
        }
        damage.noteHeld(record)
        var held = record
        held.state = .pending
        held.lastError = "held by the damage guard: \(hold!.reason); `jigsync resume --folder \(record.folder)` lets it go"
        return held
    }

    /// Ends the damage guard's hold of `folder` (`jigsync resume --folder`) and queues the
    /// overwrites it held. Returns how many, or nil when the folder was not held.
    func releaseDamageHold(_ folder: FolderID) async throws -> Int? {
        let wasHeld = damage.release(folder)
        try await ledger.clearDamageHolds(folder: folder.path)
        guard wasHeld else { return nil }
        let rows = try await ledger.records(folder: folder.path).values.filter { $0.state == .pending }
        let ledger = self.ledger
        var queued = 0
        for var record in rows {
            if record.lastError?.hasPrefix("held by the damage guard") == true { record.lastError = nil }
            if await scheduler.offer(record, recording: { ledger.save($0) }) { queued += 1 }
        }
        return queued
    }

    /// Queues again the remote deletes the ledger owes (after `jigsync retry --deletes`).
    func requeueDeletes() async throws -> Int {
        let rows = try await ledger.records(inStates: [.deleting])
        var queued = 0
        for record in rows where spec(FolderID(record.folder)) != nil {
            await scheduler.add(record)
            queued += 1
        }
        return queued
    }
}
