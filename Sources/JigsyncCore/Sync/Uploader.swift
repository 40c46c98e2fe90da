import Foundation
import Logging

/// One worker: takes due jobs (uploads and remote deletes), sends them, and records the outcome
/// in the ledger.
struct Uploader: Sendable {
    let engine: SyncEngine
    let scheduler: UploadScheduler
    let tally: Tally

    func run(folders: OpenFolders) async {
        while let job = await scheduler.take() {
            if job.isDelete {
                await RemoteDelete(engine: engine, scheduler: scheduler, tally: tally).send(job, folder: folders[job.record.folder])
            } else if let folder = folders[job.record.folder] {
                await send(job, folder: folder)
            }
            // (An upload whose folder is gone stays due in the ledger; the folder's return re-plans it.)
            await scheduler.finished(job)
        }
    }

    private func send(_ job: UploadScheduler.Job, folder: Folder) async {
        var record = job.record
        let fullPath = folder.fullPath(record.path)
        let examinedAt = Reconciler.wallNanoseconds()
        let relative = record.path
        let file: ReadableFile
        do {
            file = try await FSQueue.run { () throws(FSError) in try folder.openForReading(relative) }
        } catch {
            record = await withStoredState(record)
            if error.code == ENOENT {
                await vanished(record)
                return
            }
            fail(&record, reason: error.reason, status: nil)
            await tally.failed(fullPath, error.reason)
            engine.logger.warning("\(fullPath.escapedForDisplay): \(error.reason)")
            return
        }
        record.update(stat: file.openedStat, examinedAt: examinedAt)
        guard file.openedStat.size <= engine.settings.maxSize else {
            record = await withStoredState(record)
            let reason = "exceeds the \(Reconciler.describe(engine.settings.maxSize)) limit (\(file.openedStat.size) bytes)"
            fail(&record, reason: reason, status: nil)
            await tally.failed(fullPath, reason)
            return
        }
        record.state = .uploading
        record.unconfirmedSend = true   // until the outcome is recorded: the store may get any of it
        record.contentType = engine.contentTypes.type(for: record.path)
        // Nothing is sent that cannot be recorded: the row is on disk before the first byte goes
        // (with what the store holds taken from the ledger's row, as `withStoredState` does).
        let committed = await engine.ledger.commitSending(record)
        record = committed.record
        if committed.failure != nil {
            record.state = .pending
            engine.ledger.save(record)
            await scheduler.add(record)
            await scheduler.ledgerWrites(engine.ledger.writeState)
            return
        }

        do {
            try await engine.limiter.acquire()
            let options = FileStoreClient.UploadOptions(key: record.key, overwrite: engine.settings.onConflict == .overwrite,
                                                        contentType: record.contentType)
            let key = PathBytes(record.folder + "/" + record.path)
            let board = engine.progress
            defer { board.remove(key) }
            // The file must still be the one that was sent: same inode, size and times at its path
            // (looked at on the curl thread as the answer arrives).
            let result = try await engine.client.upload(file, options: options, progress: { board.update(key, $0) },
                                                        checkingAfterAnswer: { try? folder.lstat(relative) })
            await engine.limiter.observe(result.rateLimit, serverWait: result.rateLimitWait)
            await Self.answered(engine: engine, scheduler: scheduler)
            guard let now = result.checkedAfterAnswer else {
                // Deleted right after it was sent: the store holds what was sent, and the delete
                // policy decides what happens to that copy (a row forgetting it would leak it).
                record.uploadedSHA256 = result.sentSHA256
                record.uploadedSize = result.sentBytes
                record.uploadedAt = Int64(Date().timeIntervalSince1970 * 1000)
                record.remoteURL = result.url
                record.sha256 = result.sentSHA256
                await vanished(record)
                return
            }
            guard !now.contentMayDiffer(from: file.openedStat) else {
                record.state = .pending
                record.lastError = "changed while it was being sent; sending again"
                JigsyncMetrics.retried(.changed)
                engine.ledger.save(record)
                await scheduler.add(record)
                return
            }
            record.state = .uploaded
            record.unconfirmedSend = false
            record.sha256 = result.sentSHA256
            record.uploadedSHA256 = result.sentSHA256
            record.uploadedSize = result.sentBytes
            record.uploadedAt = Int64(Date().timeIntervalSince1970 * 1000)
            record.remoteURL = result.url
            record.lastError = nil
            record.lastHTTPStatus = 200
            record.attempts = 0
            record.nextAttemptAt = nil
            // The action this version owes is committed with its row, and runs beside the pipeline.
            let action = engine.actions?.action(for: record, event: .uploaded)
            engine.ledger.save(record, action: action)
            if let action { engine.actions?.enqueue(action) }
            await scheduler.succeeded(record)
            await tally.uploaded(bytes: result.sentBytes)
            await keepVersion(of: record, folder: folder)
            JigsyncMetrics.stored(bytes: result.sentBytes, modifiedAtNanoseconds: file.openedStat.mtimeNanoseconds)
            engine.events?.publish(DaemonActivity(.uploaded, path: fullPath, key: record.key, size: result.sentBytes, sha256: result.sentSHA256))
            engine.logger.debug("uploaded \(fullPath.escapedForDisplay) as \(record.key.escapedForDisplay) (\(result.sentBytes) bytes, sha256 \(result.sentSHA256))")
        } catch let error as StoreError {
            await handle(error, record: &record, fullPath: fullPath)
        } catch {
            // Cancelled while waiting for the rate limiter: still due.
            record.state = .pending
            engine.ledger.save(record)
        }
    }

    /// `record` with what the store holds as the ledger says now. A job's row may be older than
    /// the ledger's (queued again after a transfer of the same path recorded its upload): what
    /// the store holds is the ledger's to say, or a delete that follows would think there is no
    /// copy to remove. (A transfer that goes out gets the same from `Ledger.commitSending`.)
    private func withStoredState(_ record: FileRecord) async -> FileRecord {
        var record = record
        if let current = try? await engine.ledger.record(folder: record.folder, path: record.path) {
            record.takeStoredState(from: current)
        }
        return record
    }

    /// The file went away before it could be opened: the delete policy decides what is owed.
    private func vanished(_ record: FileRecord) async {
        var record = record
        if record.mayBeStored && engine.deletes.deletesRemote(FolderID(record.folder)) {
            record.state = .deleting
            record.lastError = "deleted from the folder; the remote delete is due"
            engine.ledger.save(record)
            await scheduler.add(record, after: RemoteDeletes.delay)
        } else {
            record.state = .deleted
            record.lastError = "no longer in the folder (the remote copy is kept)"
            engine.ledger.save(record)
        }
    }

    private func handle(_ error: StoreError, record: inout FileRecord, fullPath: String) async {
        record.lastHTTPStatus = error.status
        if error.status != nil { await scheduler.answered() }
        if await Self.unreachable(error, record: record, engine: engine, scheduler: scheduler) { return }
        switch error.disposition {
        case .retryLater, .unconfirmed, .cancelled:
            await engine.limiter.observe(nil, serverWait: error.status == 429 ? error.retryAfter : nil)
            record.attempts += 1
            if error.status == 429 { JigsyncMetrics.throttled.increment() }
            if error.disposition != .cancelled {
                JigsyncMetrics.uploadRetried.increment()
                JigsyncMetrics.retried(JigsyncMetrics.reason(for: error))
            }
            let delay = engine.settings.retry.delay(attempt: record.attempts, serverWait: error.retryAfter)
            record.state = .pending
            record.lastError = error.description
            record.nextAttemptAt = Self.wallMilliseconds(after: delay)
            engine.ledger.save(record)
            guard error.disposition != .cancelled else { return }   // shutting down: the row stays due
            // A 429 says "slower", not "failing": the limiter has slowed down, and the file waits
            // its turn without counting against --retry-for (a run at the API's rate would
            // otherwise give up on the unlucky files that keep meeting a full window).
            let queued: Bool
            if error.status == 429 {
                await scheduler.add(record, after: delay)
                queued = true
            } else {
                queued = await scheduler.retry(record, after: delay)
            }
            if queued {
                // Once a minute per file at info; the rest at debug (a long 5xx spell would flood the log).
                let level: Logger.Level = engine.retryLog.allows(UploadScheduler.key(record)) ? .info : .debug
                engine.logger.log(level: level, "\(fullPath.escapedForDisplay): \(error.description.escapedForDisplay); retry \(record.attempts) in \(delay.readable)")
            } else {
                await tally.gaveUp(fullPath, error.description)
                engine.logger.warning("\(fullPath.escapedForDisplay): \(error.description.escapedForDisplay); still failing after the retry period, left due")
            }
        case .fileChanged:
            JigsyncMetrics.retried(.changed)
            record.state = .pending
            record.lastError = error.message
            engine.ledger.save(record)
            await scheduler.add(record)
        case .fixFile, .notFound:
            fail(&record, reason: error.description, status: error.status)
            JigsyncMetrics.uploadFailed.increment()
            await tally.failed(fullPath, error.description)
            engine.events?.publish(DaemonActivity(.failed, path: fullPath, key: record.key, reason: error.description))
            engine.logger.warning("\(fullPath.escapedForDisplay): \(error.description.escapedForDisplay)")
        case .conflict:
            JigsyncMetrics.uploadSkipped.increment()
            record.state = .skipped
            record.lastError = "the key \(record.key) is already stored and on_conflict is skip"
            engine.ledger.save(record)
        case .fixConfiguration:
            record.state = .pending
            record.lastError = error.description
            engine.ledger.save(record)
            await scheduler.add(record)
            await Self.rejected(error, engine: engine, scheduler: scheduler, tally: tally)
        }
    }

    /// A request was answered: a pause (a rejected key, an unreachable service) ends, said once.
    static func answered(engine: SyncEngine, scheduler: UploadScheduler) async {
        guard let ended = await scheduler.resume() else { return }
        engine.events?.publish(DaemonActivity(.resumed, reason: "the service answers again (\(counted(ended.held, "file")) held)"))
        engine.logger.notice("uploads resume after \(ended.lasted.readable): the service answers again (\(counted(ended.held, "file")) held; the pause was: \(ended.reason))")
    }

    /// The daemon's answer to a request that got no answer at all: after a few in a row the
    /// service counts as unreachable, one condition for every file: uploads pause (one warning),
    /// one probe goes out per growing backoff, and the file waits with the rest. Returns true when
    /// it handled the error so. A one-shot `sync` retries each file instead (bounded by `--retry-for`).
    static func unreachable(_ error: StoreError, record: FileRecord, engine: SyncEngine, scheduler: UploadScheduler) async -> Bool {
        guard engine.settings.pauseWhenRejected, error.status == nil, error.disposition == .retryLater,
              await scheduler.noAnswer() else { return false }
        var record = record
        JigsyncMetrics.retried(.unreachable)
        record.state = record.state == .deleting ? .deleting : .pending
        record.lastError = "the service does not answer: \(error.description)"
        engine.ledger.save(record)
        await scheduler.add(record)
        let reason = "the service does not answer (\(error.description))"
        let (probeAfter, started) = await scheduler.pause(reason, policy: engine.settings.retry)
        if started {
            engine.events?.publish(DaemonActivity(.paused, reason: reason))
            engine.logger.warning("uploads paused: \(reason); files stay due; probing again in \(probeAfter.readable)")
        } else {
            engine.logger.info("the service still does not answer; next probe in \(probeAfter.readable)")
        }
        return true
    }

    /// Every other request would fail the same way: nothing is marked failed. A one-shot sync
    /// stops; the daemon pauses and probes with one request per backoff period.
    static func rejected(_ error: StoreError, engine: SyncEngine, scheduler: UploadScheduler, tally: Tally?) async {
        if engine.settings.pauseWhenRejected {
            let (probeAfter, started) = await scheduler.pause(error.description, policy: engine.settings.retry)
            _ = await tally?.rejected(error.description)   // after the pause, so the status it triggers shows it
            if started {
                engine.events?.publish(DaemonActivity(.paused, reason: error.description))
                engine.logger.error("uploads paused: \(error); probing again in \(probeAfter.readable)")
            } else {
                engine.logger.info("still rejected; next probe in \(probeAfter.readable)")
            }
        } else {
            let first = await tally?.rejected(error.description) ?? true
            await scheduler.stop()
            if first { engine.logger.error("\(error)") }
        }
    }

    private func fail(_ record: inout FileRecord, reason: String, status: Int?) {
        record.state = .failed
        record.lastError = reason
        record.lastHTTPStatus = status
        record.nextAttemptAt = nil
        engine.ledger.save(record)
    }

    /// Unix milliseconds `delay` from now, for the row's next-attempt time (read by people).
    static func wallMilliseconds(after delay: Duration) -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000) + delay.components.seconds * 1000
            + delay.components.attoseconds / 1_000_000_000_000_000
    }
}
