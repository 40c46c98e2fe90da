import Foundation
import Logging

/// Sends one remote delete the ledger owes (a row `deleting`), the way uploads are sent: through
/// the rate limiter, retried with backoff on passing failures, paused with the uploads on a
/// rejected key. Done on 2xx or 404; held by the mass-delete guard; never sent while the
/// folder's root is detached (a vanished disk is not a request to delete).
struct RemoteDelete: Sendable {
    let engine: SyncEngine
    let scheduler: UploadScheduler
    let tally: Tally

    func send(_ job: UploadScheduler.Job, folder: Folder?) async {
        // The ledger decides, not the job: the file may have come back, or a reload changed the policy.
        guard var record = try? await engine.ledger.record(folder: job.record.folder, path: job.record.path),
              record.state == .deleting else { return }
        let fullPath = record.folder + "/" + record.path
        guard let folder, await FSQueue.run({ folder.isStillAttached() }) else {
            record.lastError = "deleted from the folder; the remote delete waits: the folder itself is gone"
            engine.ledger.save(record)
            engine.logger.notice("\(fullPath.escapedForDisplay): remote delete not sent: the folder itself is gone (it is sent if the folder comes back without the file)")
            return
        }
        if let reason = engine.deletes.admit(UploadScheduler.key(record)) {
            record.lastError = "remote delete held: \(reason); `jigsync retry --deletes` lets it go"
            engine.ledger.save(record)
            await tally.noteChange()
            return
        }
        do {
            try await engine.limiter.acquire()
            try await engine.client.delete(key: record.key)
            await Uploader.answered(engine: engine, scheduler: scheduler)
            await finish(&record, "deleted from the folder and from the store")
            engine.logger.debug("deleted \(record.key.escapedForDisplay) from the store (\(fullPath.escapedForDisplay) was deleted)")
        } catch let error as StoreError {
            if error.status != nil { await scheduler.answered() }
            if await Uploader.unreachable(error, record: record, engine: engine, scheduler: scheduler, tally: tally) { return }
            switch error.disposition {
            case .notFound:
                await Uploader.answered(engine: engine, scheduler: scheduler)
                await finish(&record, "deleted from the folder; the store had no copy")
            case .fixConfiguration:
                record.lastError = "remote delete: \(error.description)"
                record.lastHTTPStatus = error.status
                engine.ledger.save(record)
                await scheduler.add(record)
                await Uploader.rejected(error, engine: engine, scheduler: scheduler, tally: nil)
            case .cancelled:
                return   // shutting down: the row stays `deleting`, sent after the restart
            default:
                // 5xx, 429, a reset, an odd answer: the delete is still owed; try again later.
                if error.status == 429 { JigsyncMetrics.throttled.increment() }
                JigsyncMetrics.retried(JigsyncMetrics.reason(for: error))
                await engine.limiter.observe(nil, serverWait: error.status == 429 ? error.retryAfter : nil)
                record.attempts += 1
                let delay = engine.settings.retry.delay(attempt: record.attempts, serverWait: error.retryAfter)
                record.lastError = "remote delete failed: \(error.description); retry \(record.attempts) in \(delay.readable)"
                record.lastHTTPStatus = error.status
                record.nextAttemptAt = Uploader.wallMilliseconds(after: delay)
                engine.ledger.save(record)
                await scheduler.add(record, after: delay)
                let level: Logger.Level = engine.retryLog.allows(UploadScheduler.key(record)) ? .info : .debug
                engine.logger.log(level: level, "\(fullPath.escapedForDisplay): remote delete failed: \(error.description.escapedForDisplay); retry \(record.attempts) in \(delay.readable)")
            }
        } catch {
            return   // cancelled while waiting for the rate limiter: still owed
        }
    }

    private func finish(_ record: inout FileRecord, _ note: String) async {
        record.state = .deleted
        record.lastError = note
        record.uploadedSHA256 = nil
        record.unconfirmedSend = false
        record.remoteURL = nil
        record.attempts = 0
        record.nextAttemptAt = nil
        let action = engine.actions?.action(for: record, event: .deleted)
        engine.ledger.save(record, action: action)
        if let action { engine.actions?.enqueue(action) }
        engine.events?.publish(DaemonActivity(.deleted, path: record.folder + "/" + record.path, key: record.key, reason: note))
        await tally.noteChange()
    }
}
