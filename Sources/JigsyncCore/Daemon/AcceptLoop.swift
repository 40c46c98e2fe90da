import CSys
import Foundation
import Glibc

/// A listening socket served by a thread of its own: it blocks in `poll()` on the socket and an
/// eventfd (for `stop`), and hands each accepted client (close-on-exec) to the handler on that
/// thread. Idle, it costs nothing. The control socket and the metrics listener are both one.
///
/// `@unchecked Sendable`: the descriptors are immutable; `stopping` and `ended` are thread-safe.
final class AcceptLoop: @unchecked Sendable {
    /// The listening socket (owned: closed with the loop).
    let listener: Int32
    private let wakeFD: Int32
    private let stopping = ManagedAtomicFlag()
    /// Opens when the accept thread has ended.
    private let ended = Latch()

    init(listener: Int32) {
        self.listener = listener
        wakeFD = jigsync_eventfd()
    }

    deinit {
        close(listener)
        close(wakeFD)
    }

    /// Starts the thread; `handle` owns each client it is given (it closes it, or hands it on).
    func start(name: String, handle: @escaping @Sendable (Int32) -> Void) {
        // The thread holds the loop only while it runs.
        let thread = Thread { [self] in
            run(handle)
            ended.open()
        }
        thread.name = name
        thread.start()
    }

    /// Stops accepting and waits until the accept thread has ended (clients handed on finish on
    /// their own threads).
    func stop() async {
        stopping.set()
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        await ended.wait()
    }

    private func run(_ handle: (Int32) -> Void) {
        while !stopping.isSet {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                return   // EBADF/EFAULT/ENOMEM: the socket is unusable
            }
            if stopping.isSet { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            handle(client)
        }
    }
}
