import CSys
import Glibc

/// An inotify instance and the eventfd that interrupts its reader: the only place that calls
/// the inotify system calls.
///
/// `@unchecked Sendable`: the descriptors are immutable; `addWatch`/`removeWatch` and `read` are
/// thread-safe system calls; `wake()` may be called from any thread.
final class Inotify: @unchecked Sendable {
    /// Everything that can mean new content or a changed tree; never `IN_ACCESS`, `IN_OPEN` or
    /// `IN_CLOSE_NOWRITE`, which jigsync's own reads would trigger by the thousand.
    static let watchMask = UInt32(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
                                  | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)
        | UInt32(IN_DONT_FOLLOW) | UInt32(IN_EXCL_UNLINK) | UInt32(IN_ONLYDIR)

    /// On the parent of a folder's root: only its entries appearing and leaving, to see the root
    /// deleted, moved away or created again. (A deleted root held open gets no `IN_DELETE_SELF`
    /// until its last descriptor closes, so the parent is the reliable witness.)
    static let parentMask = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO) | UInt32(IN_ONLYDIR) | UInt32(IN_DONT_FOLLOW)

    private let fd: Int32
    private let wakeFD: Int32

    init() throws(WatchError) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else {
            throw WatchError(path: "", reason: errno == EMFILE
                ? "too many inotify instances: raise fs.inotify.max_user_instances"
                : "inotify_init1: \(String(cString: strerror(errno)))")
        }
        let wakeFD = jigsync_eventfd()
        guard wakeFD >= 0 else {
            close(fd)
            throw WatchError(path: "", reason: "eventfd: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.wakeFD = wakeFD
    }

    deinit {
        close(fd)
        close(wakeFD)
    }

    /// Watches the directory at `path` (never through a symlink). Returns the watch descriptor,
    /// the same one when the directory (by inode) is already watched.
    func addWatch(_ path: String, mask: UInt32 = Inotify.watchMask) throws(WatchError) -> Int32 {
        let wd = inotify_add_watch(fd, path, mask)
        guard wd >= 0 else {
            switch errno {
            case ENOSPC:
                throw WatchError(path: path, reason: "the inotify watch limit is reached: raise fs.inotify.max_user_watches", isLimit: true)
            case ENOENT, ENOTDIR:
                throw WatchError(path: path, reason: "vanished before it could be watched", vanished: true)
            default:
                throw WatchError(path: path, reason: "inotify_add_watch: \(String(cString: strerror(errno)))")
            }
        }
        return wd
    }

    /// Watches a directory held open beneath a folder, through its `/proc/self/fd/N` name: the
    /// watch lands on exactly the inode that was opened, never on whatever a path resolves to now.
    /// `IN_DONT_FOLLOW` is left out here: the last component is the descriptor's magic link,
    /// which must be followed to reach the directory. `shownPath` is for messages.
    func addWatch(_ directory: OpenDirectory, shownPath: String) throws(WatchError) -> Int32 {
        let wd = inotify_add_watch(fd, directory.descriptorPath, Self.watchMask & ~UInt32(IN_DONT_FOLLOW))
        guard wd >= 0 else {
            switch errno {
            case ENOSPC:
                throw WatchError(path: shownPath, reason: "the inotify watch limit is reached: raise fs.inotify.max_user_watches", isLimit: true)
            case ENOENT:
                // The descriptor is open, so the directory is there: /proc is not.
                throw WatchError(path: shownPath, reason: "cannot be watched through /proc/self/fd: is /proc mounted?")
            default:
                throw WatchError(path: shownPath, reason: "inotify_add_watch: \(String(cString: strerror(errno)))")
            }
        }
        return wd
    }

    func removeWatch(_ wd: Int32) {
        inotify_rm_watch(fd, wd)
    }

    /// Interrupts `waitAndRead` from another thread.
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Blocks until events arrive, `wake()` is called, or `timeoutMilliseconds` passes (-1: no timeout).
    /// Returns the events read (empty on a wake or a timeout) and whether it was woken.
    func waitAndRead(timeoutMilliseconds: Int32) -> (events: [InotifyEvent], woken: Bool) {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, 2, timeoutMilliseconds)
        if ready < 0 { return ([], false) }   // EINTR: the caller loops
        var woken = false
        if fds[1].revents & Int16(POLLIN) != 0 {
            var count: UInt64 = 0
            _ = read(wakeFD, &count, 8)
            woken = true
        }
        guard fds[0].revents & Int16(POLLIN) != 0 else { return ([], woken) }
        return (readEvents(), woken)
    }

    /// Blocks until `wake()` is called or `timeoutMilliseconds` passes, leaving events queued in
    /// the kernel (to read more of them at once). Returns whether it was woken.
    func waitForWake(timeoutMilliseconds: Int32) -> Bool {
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        guard poll(&fds, 1, timeoutMilliseconds) > 0, fds[0].revents & Int16(POLLIN) != 0 else { return false }
        var count: UInt64 = 0
        _ = read(wakeFD, &count, 8)
        return true
    }

    private func readEvents() -> [InotifyEvent] {
        // Room for many events per read; one event is at most sizeof(inotify_event) + NAME_MAX + 1.
        let capacity = 256 * 1024
        var events: [InotifyEvent] = []
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer, capacity)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }   // EAGAIN: drained
            events += Self.parse(UnsafeRawBufferPointer(start: buffer, count: n))
        }
        return events
    }

    /// The events in what one `read` returned. A record that claims more name bytes than the
    /// buffer holds ends the parse (the kernel never sends one; the bound keeps a bad buffer from
    /// reading past its end).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> [InotifyEvent] {
        var events: [InotifyEvent] = []
        var offset = 0
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= bytes.count {
            let wd = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let cookie = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            guard length <= bytes.count - offset - header else { break }
            let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[(offset + header)..<(offset + header + length)])
            let name = Array(nameBytes.prefix { $0 != 0 })
            events.append(InotifyEvent(watch: wd, kind: InotifyEvent.Kind(rawValue: mask), cookie: cookie, name: name))
            offset += header + length
        }
        return events
    }
}

/// A watch that could not be set up, with what to do about it.
public struct WatchError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    /// `fs.inotify.max_user_watches` is exhausted.
    public let isLimit: Bool
    /// The directory disappeared first (not an error worth reporting).
    public let vanished: Bool

    init(path: String, reason: String, isLimit: Bool = false, vanished: Bool = false) {
        self.path = path
        self.reason = reason
        self.isLimit = isLimit
        self.vanished = vanished
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}
