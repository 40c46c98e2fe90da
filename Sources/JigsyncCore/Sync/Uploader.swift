import Foundation
import Logging

/// One worker: takes due jobs (uploads and remote deletes), sends them, and records the outcome
/// in the ledger.
struct Uploader: Sendable {
    let engine: SyncEngine
    let scheduler: UploadScheduler
    let tally: Tally
    /// The small lane's worker: small jobs only, while large files hold most workers.
    var lane = false

    /// The most small uploads one worker takes at once: at a lifted rate limit a batch goes
    /// through each stage in one step (one trip to the FS threads, one ledger transaction, one
    /// hand-off to the curl thread, one write of the outcomes); at the API's rates the limiter
    /// spaces every request, and a worker takes one at a time.
    static let batchLimit = 32

    func run(folders: OpenFolders) async {
        while true {
            let jobs = await scheduler.take(upTo: await engine.limiter.batchCapacity(Self.batchLimit), lane: lane)
            guard let first = jobs.first else { return }
            if first.isDelete {
                await RemoteDelete(engine: engine, scheduler: scheduler, tally: tally).send(first, folder: folders[first.record.folder])
            } else {
                // (An upload whose folder is gone stays due in the ledger; the folder's return re-plans it.)
                let sending = jobs.compactMap { job in folders[job.record.folder].map { (job.record, $0) } }
                if !sending.isEmpty { await send(sending) }
            }
            await scheduler.finished(jobs)
        }
    }

    /// One upload of a batch once its file is open and its row says `uploading`.
    private struct Sending {
        var record: FileRecord
        let folder: Folder
        let file: ReadableFile
        var fullPath: String { folder.fullPath(record.path) }
    }

    /// Sends a batch of uploads (often one): opens the files, commits their rows `uploading`, sends
    /// them one after another, and records each outcome. Nothing is sent that cannot be recorded.
    private func send(_ batch: [(record: FileRecord, folder: Folder)]) async {
        let examinedAt = Reconciler.wallNanoseconds()
        let opened = await FSQueue.run { () -> [Result<ReadableFile, FSError>] in
            batch.map { record, folder in Result { () throws(FSError) in try folder.openForReading(record.path) } }
        }
        var ready: [Sending] = []
        for ((record, folder), file) in zip(batch, opened) {
            if let sending = await prepare(record, folder: folder, opened: file, examinedAt: examinedAt) { ready.append(sending) }
        }
        guard !ready.isEmpty else { return }
        // The rows are on disk before the first byte goes (with what the store holds taken from
        // the ledger's rows, as `withStoredState` does).
        let committed = await engine.ledger.commitSending(ready.map(\.record))
        for index in ready.indices { ready[index].record = committed.records[index] }
        if committed.failure != nil {
            for var sending in ready {
                sending.record.state = .pending
                engine.ledger.save(sending.record)
                await scheduler.add(sending.record)
            }
            await scheduler.ledgerWrites(engine.ledger.writeState)
            return
        }
        var rest = ready[...]
        while !rest.isEmpty {
            let granted: Int
            do {
                granted = try await engine.limiter.acquire(upTo: rest.count)
            } catch {
                // Cancelled while waiting for the rate limiter: still due.
                for var sending in rest {
                    sending.record.state = .pending
                    engine.ledger.save(sending.record)
                }
                return
            }
            let chain = rest.prefix(granted)
            rest = rest.dropFirst(granted)
            await transfer(Array(chain))
        }
    }

    /// The row of a job whose file was just opened (or not), ready to send; nil when it is not
    /// to be sent, its row then saying why.
    private func prepare(_ record: FileRecord, folder: Folder, opened: Result<ReadableFile, FSError>,
                         examinedAt: Int64) async -> Sending? {
        var record = record
        let fullPath = folder.fullPath(record.path)
        let file: ReadableFile
        switch opened {
        case .success(let opened): file = opened
        case .failure(let error):
            record = await withStoredState(record)
            if error.code == ENOENT {
                await vanished(record)
                return nil
            }
            fail(&record, reason: error.reason, status: nil)
            await tally.failed(fullPath, error.reason)
            engine.logger.warning("\(fullPath.escapedForDisplay): \(error.reason)")
            return nil
        }
        record.update(stat: file.openedStat, examinedAt: examinedAt)
        guard file.openedStat.size <= engine.settings.maxSize else {
            record = await withStoredState(record)
            let reason = "exceeds the \(Reconciler.describe(engine.settings.maxSize)) limit (\(file.openedStat.size) bytes)"
            fail(&record, reason: reason, status: nil)
            await tally.failed(fullPath, reason)
            return nil
        }
        record.state = .uploading
        record.unconfirmedSend = true   // until the outcome is recorded: the store may get any of it
        record.contentType = engine.contentTypes.type(for: record.path)
        return Sending(record: record, folder: folder, file: file)
    }

    /// Sends `chain` one after another (one hand-off to the curl thread), then records each
    /// outcome; the rows of the uploads stored are written together.
    private func transfer(_ chain: [Sending]) async {
        let board = engine.progress
        let overwrite = engine.settings.onConflict == .overwrite
        let keys = chain.map { PathBytes($0.record.folder + "/" + $0.record.path) }
        defer { for key in keys { board.remove(key) } }
        var uploads: [FileStoreClient.ChainedUpload] = []
        for (sending, key) in zip(chain, keys) {
            let folder = sending.folder, relative = sending.record.path
            let options = FileStoreClient.UploadOptions(key: sending.record.key, overwrite: overwrite, contentType: sending.record.contentType)
            let progress: (@Sendable (Int64) -> Void)? = chain.count == 1 ? { @Sendable in board.update(key, $0) } : nil
            // The file must still be the one that was sent: same inode, size and times at its path
            // (looked at on the curl thread as the answer arrives).
            uploads.append(FileStoreClient.ChainedUpload(file: sending.file, options: options, progress: progress,
                                                         checkingAfterAnswer: { folder.identity(relative) }))
        }
        let results = await engine.client.upload(chain: uploads)
        var stored: [(record: FileRecord, folder: Folder, result: UploadResult, modified: Int64)] = []
        var answered = false
        for (sending, outcome) in zip(chain, results) {
            var record = sending.record
            switch outcome {
            case .failure(let error):
                if answered { await Self.answered(engine: engine, scheduler: scheduler); answered = false }
                await handle(error, record: &record, fullPath: sending.fullPath)
            case .success(let result):
                await engine.limiter.observe(result.rateLimit, serverWait: result.rateLimitWait)
                answered = true
                guard let now = result.checkedAfterAnswer else {
                    // Deleted right after it was sent: the store holds what was sent, and the delete
                    // policy decides what happens to that copy (a row forgetting it would leak it).
                    record.noteStored(result)
                    await vanished(record)
                    continue
                }
                guard !now.contentMayDiffer(from: sending.file.openedStat) else {
                    await sendAgain(record, changedWhileSent: "changed while it was being sent",
                                    lastError: "changed while it was being sent; sending again", fullPath: sending.fullPath)
                    continue
                }
                record.state = .uploaded
                record.unconfirmedSend = false
                record.noteStored(result)
                record.lastError = nil
                record.lastHTTPStatus = 200
                record.attempts = 0
                record.nextAttemptAt = nil
                stored.append((record, sending.folder, result, sending.file.openedStat.mtimeNanoseconds))
            }
        }
        if answered { await Self.answered(engine: engine, scheduler: scheduler) }
        guard !stored.isEmpty else { return }
        // The action each version owes is committed with its row, and runs beside the pipeline.
        let actions = stored.compactMap { engine.actions?.action(for: $0.record, event: .uploaded) }
        engine.ledger.save(stored.map(\.record), actions: actions)
        for action in actions { engine.actions?.enqueue(action) }
        for (record, folder, result, modified) in stored {
            let fullPath = folder.fullPath(record.path)
            await scheduler.succeeded(record)
            await tally.uploaded(bytes: result.sentBytes)
            await keepVersion(of: record, folder: folder)
            JigsyncMetrics.stored(bytes: result.sentBytes, modifiedAtNanoseconds: modified)
            engine.events?.publish(DaemonActivity(.uploaded, path: fullPath, key: record.key, size: result.sentBytes, sha256: result.sentSHA256))
            engine.logger.debug("uploaded \(fullPath.escapedForDisplay) as \(record.key.escapedForDisplay) (\(result.sentBytes) bytes, sha256 \(result.sentSHA256))")
        }
    }

    /// A file that changed while it was sent: its row due again (saying `lastError`) and queued
    /// once more; a sync that has seen it keep changing for `--retry-for` leaves it due instead
    /// (said once, in the run's report).
    private func sendAgain(_ record: FileRecord, changedWhileSent reason: String, lastError: String, fullPath: String) async {
        var record = record
        record.state = .pending
        record.lastError = lastError
        JigsyncMetrics.retried(.changed)
        engine.ledger.save(record)
        guard await !scheduler.changedWhileSending(record) else { return }
        await tally.gaveUp(fullPath, reason)
        engine.logger.warning("\(fullPath.escapedForDisplay): \(reason.escapedForDisplay), again and again for the retry period; left due")
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
        if await Self.unreachable(error, record: record, engine: engine, scheduler: scheduler, tally: tally) { return }
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
        case .notSent:
            // Its chain stopped before it (the upload before got no answer): due again as it was.
            record.state = .pending
            engine.ledger.save(record)
            await scheduler.add(record)
        case .fileChanged:
            await sendAgain(record, changedWhileSent: error.message, lastError: error.message, fullPath: fullPath)
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

    /// The answer to requests that got no answer at all: after a few in a row the service counts
    /// as unreachable, one condition for every file: uploads pause (one warning), one probe goes
    /// out per growing backoff, and the file waits with the rest (a dead endpoint costs one
    /// request per backoff, not one per file). A one-shot `sync` pauses for at most `--retry-for`,
    /// then stops, the files not uploaded still due (`tally` says why, once). Returns true when it
    /// handled the error so; a single lost connection is retried as the file's own failure.
    static func unreachable(_ error: StoreError, record: FileRecord, engine: SyncEngine, scheduler: UploadScheduler, tally: Tally) async -> Bool {
        guard error.status == nil, error.disposition == .retryLater, await scheduler.noAnswer() else { return false }
        var record = record
        JigsyncMetrics.retried(.unreachable)
        record.state = record.state == .deleting ? .deleting : .pending
        record.lastError = "the service does not answer: \(error.description)"
        engine.ledger.save(record)
        await scheduler.add(record)
        let reason = "the service does not answer (\(error.description))"
        let (probeAfter, started, ended) = await scheduler.pause(reason, policy: engine.settings.retry)
        if let ended {
            await tally.unreachable(error.description, lasted: ended)   // the command's last line says it
        } else if started {
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
            let (probeAfter, started, _) = await scheduler.pause(error.description, policy: engine.settings.retry)
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

private extension FileRecord {
    /// What the store holds once `result` answered: the bytes sent, their hash, where they are.
    mutating func noteStored(_ result: UploadResult) {
        sha256 = result.sentSHA256
        uploadedSHA256 = result.sentSHA256
        uploadedSize = result.sentBytes
        uploadedAt = Int64(Date().timeIntervalSince1970 * 1000)
        remoteURL = result.url
    }
}
