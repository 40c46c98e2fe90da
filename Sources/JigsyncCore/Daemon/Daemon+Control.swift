import Foundation

/// The daemon's side of the control socket: `status`, `retry`, `pause`, `resume` are answered
/// on the client's task, beside the event loop; a `reload` goes through the loop.
extension Daemon {
    func startControlSocket() -> ControlServer? {
        guard let path = settings.controlSocket else { return nil }
        do {
            let server = try ControlServer(path: path, events: activity) { [weak self] request in
                await self?.answer(request) ?? .refused("the daemon is stopping")
            }
            server.start()
            ledger.setOwnerSocket(path)
            return server
        } catch {
            logger.warning("no control socket: \(error); status and retry read the ledger directly")
            return nil
        }
    }

    /// Answers one control request (on a control client's task, beside the loop; a reload goes
    /// through the loop).
    func answer(_ request: ControlRequest) async -> ControlResponse {
        switch request.command {
        case .status:
            return ControlResponse(live: await liveStatus())
        case .retry:
            do {
                let queued = try await retry(request)
                reporter.changed()
                return ControlResponse(queued: queued)
            } catch {
                return .refused("\(error)")
            }
        case .pause:
            await scheduler.hold("held by `jigsync pause`; `jigsync resume` continues")
            activity.publish(DaemonActivity(.paused, reason: "held by `jigsync pause`"))
            reporter.changed()
            return ControlResponse()
        case .resume:
            if let folder = request.folder {
                guard let spec = planner.spec(FolderID(folder)) else {
                    return .refused("\(folder) is not a watched folder")
                }
                do {
                    guard let queued = try await planner.releaseDamageHold(spec.id) else {
                        return .refused("the damage guard holds nothing in \(folder)")
                    }
                    logger.notice("damage guard released in \(folder) by `jigsync resume --folder`: \(queued) overwrite(s) queued")
                    reporter.changed()
                    return ControlResponse(queued: queued)
                } catch {
                    return .refused("\(error)")
                }
            }
            await scheduler.release()
            activity.publish(DaemonActivity(.resumed, reason: "`jigsync resume`"))
            reporter.changed()
            return ControlResponse()
        case .events:
            return .refused("events are streamed by the control socket itself")
        case .reload:
            return await withCheckedContinuation { continuation in
                let reply = ReloadReply(continuation)
                if case .terminated = input.yield(.reload(reply)) { reply.send(.refused("the daemon is stopping")) }
            }
        }
    }

    private func liveStatus() async -> LiveStatus {
        let depth = await scheduler.depth()
        let running = await scheduler.inFlightJobs()
        let transfers = running.sorted { $0.key < $1.key }.map {
            LiveStatus.Transfer(path: $0.key.string, size: $0.value, bytesSent: engine.progress[$0.key] ?? 0)
        }
        return LiveStatus(pid: getpid(), due: depth.waiting, uploading: depth.inFlight, inFlight: transfers,
                          paused: await scheduler.pauseReason, held: await scheduler.heldReason,
                          attention: await Self.snapshot(scheduler: scheduler, notes: notes, deletes: engine.deletes, damage: engine.damage).attention)
    }

    private func retry(_ request: ControlRequest) async throws -> Int {
        if request.actions == true {
            let queued = try await actions.retryFailed()
            logger.notice("failed actions made due by `jigsync retry --actions`: \(queued)")
            return queued
        }
        if request.deletes == true {
            engine.deletes.release()
            let queued = try await planner.requeueDeletes()
            logger.notice("remote deletes released by `jigsync retry --deletes`: \(queued) queued")
            return queued
        }
        var records: [FileRecord] = []
        if let paths = request.paths {
            for path in paths {
                guard let (spec, relative) = planner.locate(path) else {
                    throw ControlRefusal("\(path) is not in a watched folder")
                }
                _ = try await ledger.retry(folder: spec.path, paths: [relative])
                if let record = try await ledger.record(folder: spec.path, path: relative) { records.append(record) }
            }
        } else {
            let failed = try await ledger.records(inStates: [.failed])
            _ = try await ledger.retry()
            for record in failed {
                if let fresh = try await ledger.record(folder: record.folder, path: record.path) { records.append(fresh) }
            }
        }
        var queued = 0
        for record in records where record.state == .pending && planner.spec(FolderID(record.folder)) != nil {
            await scheduler.add(record)
            queued += 1
        }
        return queued
    }
}

/// A control request refused with a reason.
struct ControlRefusal: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
