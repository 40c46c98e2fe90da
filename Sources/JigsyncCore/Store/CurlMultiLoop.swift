import CCurl
import CSys
import Foundation
import Synchronization

/// The one thread that drives every transfer through a single curl multi handle.
///
/// Only this thread touches curl handles. Other threads hand it work through `submit` and
/// `cancel`, which queue under a mutex and wake it with `curl_multi_wakeup`. With transfers in
/// flight it sleeps in `curl_multi_poll` until a socket is ready or the nearest deadline (curl's
/// own timers or a transfer's stall limit); with none it sleeps until woken, without a timeout.
/// The multi handle keeps the connection cache, so connections are reused across requests.
///
/// `@unchecked Sendable`: `inbox` is guarded by `inboxLock`; `multi`, `active`, the bandwidth
/// budget and the transfers it paused are used only on the loop's thread,
/// except for `curl_multi_wakeup`, which libcurl documents as callable from any thread.
final class CurlMultiLoop: @unchecked Sendable {
    /// Identifies a submitted transfer, to cancel it.
    typealias TransferID = UInt64

    private enum Command {
        case add(TransferID, CurlTransfer)
        /// Transfers run one after another (one connection's worth of concurrency): the next
        /// starts on this thread as the one before it ends, with no trip through the caller.
        case chain([(TransferID, CurlTransfer)])
        case cancel(TransferID)
        case stop
    }

    private let multi: UnsafeMutableRawPointer
    private let inboxLock = NSLock()
    private var inbox: [Command] = []   // guarded by inboxLock
    private let nextID = Atomic<UInt64>(1)
    private var active: [TransferID: CurlTransfer] = [:]   // loop thread only
    /// The transfers of a chain still to start, keyed by the one running now (loop thread only).
    private var chained: [TransferID: ArraySlice<(TransferID, CurlTransfer)>] = [:]
    private var thread: Thread?
    private let stopped = DispatchSemaphore(value: 0)
    /// The bandwidth cap shared by every upload (nil: unlimited), and the transfers it paused,
    /// in the order they paused (loop thread only).
    private let budget: SendBudget?
    private var pausedForBudget: [TransferID] = []

    /// Poll timeout while idle: the largest curl accepts. Nothing but a wake-up or a socket ends it.
    private static let idleWait = Int32.max

    /// - Parameter maxSendRate: bytes per second for all uploads together; 0 for unlimited.
    init(maxSendRate: Int64 = 0) {
        budget = maxSendRate > 0 ? SendBudget(bytesPerSecond: maxSendRate) : nil
        Self.initializeCurlOnce
        multi = curl_multi_init()
        // Several requests to one host share connections instead of opening one each.
        jigsync_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0)
        let thread = Thread { [self] in
            jigsync_name_thread("jigsync-curl")   // `Thread.name` does not reach the kernel here
            self.run()
        }
        thread.name = "jigsync-curl"
        self.thread = thread
        thread.start()
    }

    /// `curl_global_init` is not thread-safe; run it once, before any handle exists.
    private static let initializeCurlOnce: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    /// Stops the thread; transfers still in flight complete as cancelled.
    func shutdown() {
        enqueue(.stop)
        stopped.wait()
        curl_multi_cleanup(multi)
    }

    /// Hands a transfer to the loop; returns an id to cancel it with.
    @discardableResult
    func submit(_ transfer: CurlTransfer) -> TransferID {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        enqueue(.add(id, transfer))
        return id
    }

    /// Aborts a transfer; its completion runs with a `.cancelled` error. Unknown ids are ignored.
    func cancel(_ id: TransferID) {
        enqueue(.cancel(id))
    }

    /// Hands transfers to the loop to run one after another, in order; returns their ids.
    /// Each completes (its completion called) before the next starts.
    func submitChain(_ transfers: [CurlTransfer]) -> [TransferID] {
        let ids = transfers.map { _ in nextID.wrappingAdd(1, ordering: .relaxed).oldValue }
        if !ids.isEmpty { enqueue(.chain(Array(zip(ids, transfers)))) }
        return ids
    }

    private func enqueue(_ command: Command) {
        inboxLock.withLock { inbox.append(command) }
        curl_multi_wakeup(multi)
    }

    // MARK: loop thread

    private func run() {
        var running: Int32 = 0
        while true {
            let commands = inboxLock.withLock {
                defer { inbox.removeAll(keepingCapacity: true) }
                return inbox
            }
            for command in commands {
                switch command {
                case .add(let id, let transfer):
                    start(id, transfer)
                case .chain(let transfers):
                    let (id, first) = transfers[0]
                    chained[id] = transfers.dropFirst()
                    start(id, first)
                case .cancel(let id):
                    if let transfer = active[id] {
                        transfer.cancel()
                        remove(id, code: CURLE_ABORTED_BY_CALLBACK)
                    } else {
                        dropChained(id)
                    }
                case .stop:
                    for (_, rest) in chained {
                        for (_, transfer) in rest {
                            transfer.cancel()
                            transfer.finish(code: CURLE_ABORTED_BY_CALLBACK)
                        }
                    }
                    chained.removeAll()
                    for (id, transfer) in active {
                        transfer.cancel()
                        remove(id, code: CURLE_ABORTED_BY_CALLBACK)
                    }
                    stopped.signal()
                    return
                }
            }

            curl_multi_perform(multi, &running)
            collectFinished()
            expireStalled()
            resumeWithinBudget()

            var numfds: Int32 = 0
            curl_multi_poll(multi, nil, 0, pollTimeout(), &numfds)
        }
    }

    private func start(_ id: TransferID, _ transfer: CurlTransfer) {
        if let budget, transfer.hasBody {
            // The read callback runs on this thread: the gate needs no lock. (Under a cap every
            // body goes through it, none is sent whole with the headers.)
            transfer.sendGate = { [unowned self] wanted in
                let granted = budget.grant(wanted, sharing: self.active.values.lazy.filter(\.hasBody).count)
                if granted == 0 { self.pausedForBudget.append(id) }
                return granted
            }
        }
        guard transfer.attach(), let easy = transfer.easy else {
            transfer.finish(code: CURLE_ABORTED_BY_CALLBACK)
            transfer.detach()
            endChain(after: id, transfer)
            return
        }
        active[id] = transfer
        transfer.started()
        curl_multi_add_handle(multi, easy)
    }

    /// A cancelled transfer of a chain that has not started: it completes as cancelled, unstarted.
    private func dropChained(_ id: TransferID) {
        for (running, rest) in chained {
            guard let index = rest.firstIndex(where: { $0.0 == id }) else { continue }
            var rest = rest
            let (_, transfer) = rest.remove(at: index)
            chained[running] = rest
            transfer.cancel()
            transfer.finish(code: CURLE_ABORTED_BY_CALLBACK)
            return
        }
    }

    private func collectFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            guard let id = active.first(where: { $0.value.easy == easy })?.key else { continue }
            remove(id, code: code)
        }
    }

    private func expireStalled() {
        let now = ContinuousClock.now
        for (id, transfer) in active where transfer.deadline <= now {
            transfer.expire()
            remove(id, code: CURLE_OPERATION_TIMEDOUT)
        }
    }

    /// Unpauses the transfers the cap paused once a chunk can be granted, first paused first;
    /// each may take its share and pause again.
    private func resumeWithinBudget() {
        guard let budget, !pausedForBudget.isEmpty, budget.waitForChunk() == .zero else { return }
        let waiting = pausedForBudget
        pausedForBudget.removeAll()
        for id in waiting {
            if let easy = active[id]?.easy { jigsync_curl_unpause(easy) }
        }
    }

    private func remove(_ id: TransferID, code: CURLcode) {
        pausedForBudget.removeAll { $0 == id }
        guard let transfer = active.removeValue(forKey: id) else { return }
        if let easy = transfer.easy { curl_multi_remove_handle(multi, easy) }
        transfer.finish(code: code)
        transfer.detach()   // its handle goes to the next transfer
        endChain(after: id, transfer)
    }

    /// The next of `transfer`'s chain starts now, when it got an answer; after one that got none
    /// (refused, reset, timed out, cancelled, not started) the rest end unsent: the caller learns
    /// of the failure at once instead of after a timeout per file.
    private func endChain(after id: TransferID, _ transfer: CurlTransfer) {
        guard var rest = chained.removeValue(forKey: id), let (next, nextTransfer) = rest.popFirst() else { return }
        if transfer.chainMayGoOn {
            if !rest.isEmpty { chained[next] = rest }
            start(next, nextTransfer)
        } else {
            let cancelled = transfer.wasCancelled
            for (_, unsent) in [(next, nextTransfer)] + rest {
                if cancelled { unsent.cancel() } else { unsent.skip() }
                unsent.finish(code: CURLE_ABORTED_BY_CALLBACK)
            }
        }
    }

    /// The longest the loop may sleep: until curl's next timer or the nearest stall deadline.
    private func pollTimeout() -> Int32 {
        if active.isEmpty { return Self.idleWait }
        var curlTimeout: Int = -1
        curl_multi_timeout(multi, &curlTimeout)
        let nearest = active.values.map(\.deadline).min()!
        let untilDeadline = max(0, CurlTransfer.milliseconds(nearest - .now)) + 1
        var wait = curlTimeout < 0 ? untilDeadline : min(curlTimeout, untilDeadline)
        if let budget, !pausedForBudget.isEmpty {
            wait = min(wait, CurlTransfer.milliseconds(budget.waitForChunk()) + 1)
        }
        return Int32(clamping: wait)
    }
}
