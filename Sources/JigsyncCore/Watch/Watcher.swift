import CSys
import Foundation
import Logging

/// Watches folders recursively with inotify and tells the engine which paths to look at.
///
/// Its own thread sets the watches (a walk of every folder), reports what could not be watched,
/// then blocks in `poll()` on the inotify descriptor and an eventfd (for stop), with a timeout
/// only while the coalescer holds paths that are not due yet; idle, it sleeps until the kernel has
/// something. It only translates: what to do is the engine's business. Each watcher is one
/// generation: its batches carry the number, so the daemon can drop those of a replaced watcher.
///
/// Every directory it watches is opened beneath the folder's root (no symlink in any component)
/// and watched through its descriptor, so a directory swapped for a symlink while events wait in
/// the queue cannot lead a watch outside the folder.
///
/// `@unchecked Sendable`: the watch tables, the open roots and the coalescer are touched only on
/// the watcher's thread; `stopping` and `threadEnded` are thread-safe.
public final class Watcher: @unchecked Sendable {
    public struct Root: Sendable {
        public var id: FolderID
        public var path: String
        public var device: UInt64
        public init(id: FolderID, path: String, device: UInt64) {
            self.id = id
            self.path = path
            self.device = device
        }
    }

    /// This watcher's generation, stamped on every batch it delivers.
    public let generation: Int
    private let inotify: Inotify
    private var roots: [FolderID: Root]
    /// Each folder's root held open (on the watcher's thread): every directory is opened beneath it.
    private var openRoots: [FolderID: Folder] = [:]
    private let rootOrder: [FolderID]
    private var coalescer: Coalescer
    private let deliver: @Sendable (WatchBatch) -> Void
    private let logger: Logger
    private let stopping = ManagedAtomicFlag()
    /// Opens when the thread has ended.
    private let threadEnded = Latch()

    /// Watch descriptor → the directory it watches.
    private var directories: [Int32: WatchedPath] = [:]
    private var watchOfDirectory: [WatchedPath: Int32] = [:]
    /// Watches on the parents of the roots: wd → the folders whose root is an entry there.
    private var parentWatches: [Int32: [FolderID]] = [:]
    /// Watches this watcher removed: events already queued for them are expected, not a loss.
    private var retired: Set<Int32> = []
    /// Folders whose root is gone.
    private var goneRoots: Set<FolderID> = []
    /// Directory `MOVED_FROM`s waiting for their `MOVED_TO` within the same read.
    private var pendingMoves: [UInt32: WatchedPath] = [:]
    /// Directories in which an entry whose name is not UTF-8 changed during this read.
    private var changedDirectories: Set<WatchedPath> = []
    /// While events stream in, settled paths are handed over at most once per `gather` (a quarter
    /// of the settle time, at most 5 ms; none with no settle): one plan of many files instead
    /// of one per read. A path alone is handed over when it settles, as before.
    private let gather: Duration
    private var lastDelivery = ContinuousClock.now - .seconds(1)
    /// When the last read that found events was: reads closer than `gather` mean a stream, and
    /// the next waits out the rest of `gather` so the kernel's queue is read in larger batches.
    private var lastRead = ContinuousClock.now - .seconds(1)

    /// - Parameter deliver: called on the watcher's thread with signals in order; it must not block.
    public init(roots: [Root], generation: Int = 0, settle: Duration = Coalescer.defaultSettle,
                quiet: Duration = Coalescer.defaultQuiet,
                logger: Logger, deliver: @escaping @Sendable (WatchBatch) -> Void) throws(WatchError) {
        inotify = try Inotify()
        self.generation = generation
        self.roots = Dictionary(roots.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        rootOrder = roots.map(\.id)
        coalescer = Coalescer(settle: settle, quiet: quiet)
        gather = min(settle / 4, .milliseconds(5))
        self.deliver = deliver
        self.logger = logger
    }

    /// Starts the thread, which sets a watch on every directory of every folder (off the
    /// cooperative pool: a walk can take seconds), then watches. Returns, once the watches are
    /// set, the signals for parts that could not be watched.
    public func start() async -> [WatchSignal] {
        await withCheckedContinuation { (ready: CheckedContinuation<[WatchSignal], Never>) in
            // The thread holds the watcher only while it runs: nothing keeps it alive after `stop()`.
            let thread = Thread { [self] in
                jigsync_name_thread("jigsync-watch")   // `Thread.name` does not reach the kernel here
                ready.resume(returning: watchEverything())
                run()
                threadEnded.open()
            }
            thread.name = "jigsync-watch"
            thread.start()
        }
    }

    /// On the watcher's thread: the watches of every folder and of the roots' parents.
    private func watchEverything() -> [WatchSignal] {
        var problems: [WatchSignal] = []
        for id in rootOrder {
            watchParent(of: id)
            guard let folder = try? Folder(path: roots[id]!.path) else {
                goneRoots.insert(id)   // an optional folder not there yet: its parent watch brings it in
                continue
            }
            openRoots[id] = folder
            roots[id]?.device = folder.device
            problems += watchTree(WatchedPath(folder: id, path: ""))
        }
        return problems
    }

    /// Stops the thread and waits for it to end; the inotify instance and its watches are
    /// released with the watcher.
    public func stop() async {
        stopping.set()
        inotify.wake()
        await threadEnded.wait()
    }

    /// How many directories are watched.
    public var watchCount: Int { directories.count }

    // MARK: thread

    private func run() {
        var streaming = false
        while !stopping.isSet {
            if streaming {
                // Events keep coming: they wait in the kernel's queue (16,384 by default) for the
                // rest of `gather` and are read together.
                let rest = CurlTransfer.milliseconds(lastRead + gather - .now)
                if rest > 0, inotify.waitForWake(timeoutMilliseconds: Int32(rest)), stopping.isSet { return }
                streaming = false
            }
            var timeout: Int32 = -1
            if let settles = coalescer.nextDeadline() {
                let deadline = max(settles, lastDelivery + gather)
                let wait = deadline - .now
                let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
                timeout = Int32(clamping: max(0, milliseconds + 1))
            }
            let (events, _) = inotify.waitAndRead(timeoutMilliseconds: timeout)
            if stopping.isSet { return }
            if !events.isEmpty {
                let readAt = ContinuousClock.now
                streaming = readAt - lastRead < gather
                lastRead = readAt
            }
            var signals: [WatchSignal] = []
            for event in events { handle(event, into: &signals) }
            signals += expirePendingMoves()
            signals += changedDirectories.map { .directoryChanged($0) }
            changedDirectories.removeAll()
            let now = ContinuousClock.now
            if now - lastDelivery >= gather {
                let due = coalescer.takeDue(at: now)
                if !due.isEmpty {
                    signals += due.map { .path($0) }
                    lastDelivery = now
                }
            }
            if !signals.isEmpty { deliver(WatchBatch(generation: generation, signals: signals)) }
        }
    }

    private func handle(_ event: InotifyEvent, into signals: inout [WatchSignal]) {
        if event.kind.contains(.overflow) || event.watch < 0 {
            signals.append(.rescanAll(reason: "the kernel's inotify queue overflowed; events were lost"))
            return
        }
        if let folders = parentWatches[event.watch] {
            for folder in folders { rootParentEvent(event, folder: folder, into: &signals) }
            return
        }
        guard let directory = directories[event.watch] else {
            // IN_IGNORED or a late event for a watch already dropped is expected; anything else means lost track.
            if event.kind.contains(.watchRemoved) { retired.remove(event.watch) }
            if !event.kind.contains(.watchRemoved) && !retired.contains(event.watch) {
                signals.append(.rescanAll(reason: "an event arrived for an unknown watch"))
            }
            return
        }
        if event.kind.contains(.watchRemoved) {
            forget(event.watch)
            return
        }
        if event.name.isEmpty {
            // About the watched directory itself.
            if directory.path.isEmpty && (event.kind.contains(.watchedDeleted) || event.kind.contains(.watchedMoved) || event.kind.contains(.unmounted)) {
                rootGone(directory.folder, into: &signals)
            }
            return
        }
        guard let name = String(validating: event.name, as: UTF8.self) else {
            // No String names this entry, so no path lookup can find it: the walk of its directory
            // records it, exactly as a full walk would (`skipped`, the name is not UTF-8).
            changedDirectories.insert(directory)
            return
        }
        let path = WatchedPath(folder: directory.folder, path: Self.join(directory.path, name))
        if event.kind.contains(.isDirectory) {
            handleDirectory(event, path: path, into: &signals)
            return
        }
        let now = ContinuousClock.now
        if event.kind.contains(.closedAfterWrite) || event.kind.contains(.movedTo) || event.kind.contains(.attributes)
            || event.kind.contains(.movedFrom) || event.kind.contains(.deleted) {
            coalescer.note(path, .settled, at: now)
        } else if event.kind.contains(.created) {
            // A new hard link or a linked O_TMPFILE gets no close: a name with several links is complete.
            let seen = (try? openRoots[path.folder]?.lstat(path.path)) ?? nil
            let complete = seen.map { $0.linkCount > 1 || $0.kind != .regular } ?? false
            coalescer.note(path, complete ? .settled : .writing, at: now)
        } else if event.kind.contains(.modified) {
            coalescer.note(path, .writing, at: now)
        }
    }

    private func handleDirectory(_ event: InotifyEvent, path: WatchedPath, into signals: inout [WatchSignal]) {
        if event.kind.contains(.movedFrom) {
            pendingMoves[event.cookie] = path
            return
        }
        if event.kind.contains(.created) || event.kind.contains(.movedTo) {
            if event.kind.contains(.movedTo), let old = pendingMoves.removeValue(forKey: event.cookie) {
                unmap(subtree: old)   // the kernel's watches follow the inodes: re-mapped below
                signals.append(.directoryGone(old))
            }
            // Watch first, then let the engine walk it: nothing written meanwhile is missed.
            signals += watchTree(path)
            signals.append(.directoryAppeared(path))
            return
        }
        if event.kind.contains(.deleted) {
            signals.append(.directoryGone(path))
        }
    }

    /// A directory moved away whose `MOVED_TO` did not follow in the same read left the folder:
    /// drop every watch beneath it, so nothing outside a folder is watched or read.
    private func expirePendingMoves() -> [WatchSignal] {
        defer { pendingMoves.removeAll() }
        return pendingMoves.values.map { old in
            for (_, wd) in unmap(subtree: old) { retire(wd) }
            return .directoryGone(old)
        }
    }

    private func rootGone(_ folder: FolderID, into signals: inout [WatchSignal]) {
        guard goneRoots.insert(folder).inserted else { return }
        openRoots[folder] = nil
        for (_, wd) in unmap(subtree: WatchedPath(folder: folder, path: "")) { retire(wd) }
        signals.append(.rootGone(folder))
    }

    private func watchParent(of folder: FolderID) {
        guard let root = roots[folder] else { return }
        let parent = (root.path as NSString).deletingLastPathComponent
        guard let wd = try? inotify.addWatch(parent.isEmpty ? "/" : parent, mask: Inotify.parentMask) else {
            logger.warning("cannot watch \(parent): a removal of \(root.path) is noticed only by the backstop rescan")
            return
        }
        parentWatches[wd, default: []].append(folder)
    }

    private func rootParentEvent(_ event: InotifyEvent, folder: FolderID, into signals: inout [WatchSignal]) {
        guard let root = roots[folder] else { return }
        let rootName = (root.path as NSString).lastPathComponent
        guard event.kind.contains(.isDirectory), String(decoding: event.name, as: UTF8.self) == rootName else { return }
        if event.kind.contains(.deleted) || event.kind.contains(.movedFrom) {
            rootGone(folder, into: &signals)
            return
        }
        guard event.kind.contains(.created) || event.kind.contains(.movedTo), goneRoots.contains(folder) else { return }
        guard let reopened = try? Folder(path: root.path) else { return }
        goneRoots.remove(folder)
        openRoots[folder] = reopened
        roots[folder]?.device = reopened.device
        signals += watchTree(WatchedPath(folder: folder, path: ""))
        signals.append(.rootBack(folder))
    }

    // MARK: watch tables

    /// Watches `top` and every directory beneath it, each opened beneath the folder's root and
    /// watched through its descriptor (a path that is now a symlink is simply not there).
    private func watchTree(_ top: WatchedPath) -> [WatchSignal] {
        guard let root = roots[top.folder], let folder = openRoots[top.folder] else { return [] }
        var failure: WatchError?
        FolderWalker.forEachDirectory(of: folder, under: top.path) { directory in
            let path = WatchedPath(folder: top.folder, path: directory.relativePath)
            do throws(WatchError) {
                let wd = try inotify.addWatch(directory, shownPath: folder.fullPath(directory.relativePath))
                if let old = directories[wd], old != path { watchOfDirectory.removeValue(forKey: old) }
                directories[wd] = path
                watchOfDirectory[path] = wd
                return true
            } catch {
                failure = error
                return false
            }
        }
        guard let error = failure else { return [] }
        let base = top.path.isEmpty ? root.path : root.path + "/" + top.path
        var reason = error.description
        if error.isLimit {
            var needed = 0
            for folder in openRoots.values { FolderWalker.forEachDirectory(of: folder) { _ in needed += 1; return true } }
            let current = (try? String(contentsOfFile: "/proc/sys/fs/inotify/max_user_watches", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            reason = "the inotify watch limit is reached: raise fs.inotify.max_user_watches from \(current) to at least \(needed + 1024) "
                + "(these folders hold \(needed) directories; other programs' watches count too)"
        }
        logger.error("\(base): \(reason); that part is covered by periodic rescans only")
        return [.unwatched(top.folder, reason: reason)]
    }

    /// Drops the table entries of `top` and everything beneath it; returns them.
    @discardableResult
    private func unmap(subtree top: WatchedPath) -> [(WatchedPath, Int32)] {
        let prefix = top.path.isEmpty ? "" : top.path + "/"
        let removed = watchOfDirectory.filter { $0.key.folder == top.folder && ($0.key.path == top.path || top.path.isEmpty || $0.key.path.hasPrefix(prefix)) }
        for (path, wd) in removed {
            watchOfDirectory.removeValue(forKey: path)
            if directories[wd] == path { directories.removeValue(forKey: wd) }
        }
        return removed.map { ($0.key, $0.value) }
    }

    private func retire(_ wd: Int32) {
        retired.insert(wd)
        inotify.removeWatch(wd)
    }

    private func forget(_ wd: Int32) {
        if let path = directories.removeValue(forKey: wd), watchOfDirectory[path] == wd { watchOfDirectory.removeValue(forKey: path) }
    }

    static func join(_ directory: String, _ name: String) -> String {
        if name.isEmpty { return directory }
        return directory.isEmpty ? name : directory + "/" + name
    }
}

/// A flag set once from any thread and read from another.
final class ManagedAtomicFlag: @unchecked Sendable {   // its one field is guarded by `lock`
    private let lock = NSLock()   // guards value
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
    func clear() { lock.withLock { value = false } }
}
