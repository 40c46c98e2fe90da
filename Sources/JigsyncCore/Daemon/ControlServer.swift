import CSys
import Foundation
import Glibc

/// The daemon's control socket: a Unix stream socket (owner and group only) where `jigsync`
/// asks the running daemon for its live status and tells it to retry, pause, resume or reload.
///
/// One request per connection: a `ControlRequest` as JSON on one line, one `ControlResponse` on
/// one line. Its own thread blocks in `poll()` on the listening socket and an eventfd (for stop)
/// and hands each client to a thread of its own, so a client that sends nothing holds only its own
/// thread (for at most `readTimeout`), never the others. A client that sends garbage or too much is
/// answered with an error; past `maxClients` at once, a client is told the daemon is busy.
///
/// `@unchecked Sendable`: `clients` is guarded by `lock`; the accept loop is thread-safe;
/// `handler` is called from the client threads.
public final class ControlServer: @unchecked Sendable {
    public typealias Handler = @Sendable (ControlRequest) async -> ControlResponse

    /// Longest request accepted, in bytes.
    static let maxRequestBytes = 64 * 1024
    /// How long a client may take to send its request.
    static let readTimeout: Duration = .seconds(2)
    /// Clients served at once; each holds a thread for at most `readTimeout` plus its answer.
    static let maxClients = 32

    public let path: String
    private let loop: AcceptLoop
    private let handler: Handler
    /// What `events` streams; nil: the command is refused.
    private let events: EventHub?
    private let lock = NSLock()
    private var clients = 0

    /// `$RUNTIME_DIRECTORY/control.sock` under systemd, else beside the ledger.
    public static func defaultPath(ledger: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first, !runtime.isEmpty {
            return "\(runtime)/control.sock"
        }
        return ledger + ".sock"
    }

    public init(path: String, events: EventHub? = nil, handler: @escaping Handler) throws(WatchError) {
        self.path = path
        self.handler = handler
        self.events = events
        var address = sockaddr_un()
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw WatchError(path: path, reason: "control socket path is too long for a Unix socket")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw WatchError(path: path, reason: "socket: \(String(cString: strerror(errno)))") }
        // A socket left by a crashed daemon is stale: the ledger lock proves no other owner runs.
        unlink(path)
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let previous = umask(0o117)   // owner and group only
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(previous)
        guard bound == 0, listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw WatchError(path: path, reason: "cannot listen: \(reason)")
        }
        loop = AcceptLoop(listener: fd)
    }

    public func start() {
        loop.start(name: "jigsync-control") { [self] client in admit(client) }
    }

    /// Stops accepting, waits for the accept thread to end, and removes the socket file. Clients
    /// being served finish on their own threads.
    public func stop() async {
        await loop.stop()
        unlink(path)
    }

    /// On the accept thread: a thread for the client, unless `maxClients` are being served.
    private func admit(_ client: Int32) {
        let admitted = lock.withLock { () -> Bool in
            guard clients < Self.maxClients else { return false }
            clients += 1
            return true
        }
        guard admitted else {
            reply(client, .refused("the daemon is busy with \(Self.maxClients) other control clients; try again"))
            close(client)
            return
        }
        let thread = Thread { [self] in
            serve(client)
            close(client)
            lock.withLock { clients -= 1 }
        }
        thread.name = "jigsync-control-client"
        thread.start()
    }

    private func serve(_ client: Int32) {
        Self.setTimeouts(client, Self.readTimeout)
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.contains(UInt8(ascii: "\n")) {
            let n = recv(client, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }   // closed, timed out or failed: answer what arrived, if anything
            request.append(contentsOf: buffer[0..<n])
            if request.count > Self.maxRequestBytes {
                reply(client, .refused("request too large"))
                return
            }
        }
        let line = request.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first.map { Data($0) } ?? Data()
        guard !line.isEmpty else { return }   // nothing sent: nothing to answer
        guard let parsed = Self.request(from: line) else {
            reply(client, .refused("expected one JSON object with a known \"command\" (status, retry, pause, resume, reload, events) on one line"))
            return
        }
        if parsed.command == .events {
            streamEvents(client, follow: parsed.follow == true)
            return
        }
        let box = AnswerBox()
        let semaphore = DispatchSemaphore(value: 0)
        let handler = self.handler
        Task {
            box.answer = await handler(parsed)
            semaphore.signal()
        }
        semaphore.wait()   // this is the client's own thread, never the cooperative pool
        reply(client, box.answer)
    }

    /// The request one line carries, if it is one.
    static func request(from line: Data) -> ControlRequest? {
        try? JSONDecoder().decode(ControlRequest.self, from: line)
    }

    /// `events`: the backlog, then (following) each event as it comes, one JSON object per line.
    /// This is the client's own thread: it blocks in `poll()` on the follower's eventfd and the
    /// socket (a client that hangs up ends it) and in `send` (a slow reader holds only itself; its
    /// buffer drops the oldest events meanwhile and the next line says how many).
    private func streamEvents(_ client: Int32, follow: Bool) {
        guard let hub = events else {
            reply(client, .refused("this daemon has no event stream"))
            return
        }
        Self.setTimeouts(client, .zero)   // no send timeout: see above
        guard follow, let (follower, backlog) = hub.follow() else {
            _ = sendLines(hub.backlogEvents(), to: client)
            return
        }
        defer { hub.unfollow(follower) }
        guard sendLines(backlog + [DaemonActivity(.live)], to: client) else { return }
        while true {
            var fds = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: follower.wakeFD, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            // A follow client only listens: readable means it hung up (or broke the protocol).
            if fds[0].revents != 0 { return }
            let (events, closed) = follower.take()
            if !sendLines(events, to: client) || closed { return }
        }
    }

    /// Writes events as JSON lines; false once the client is gone.
    private func sendLines(_ events: [DaemonActivity], to client: Int32) -> Bool {
        guard !events.isEmpty else { return true }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for event in events {
            guard let line = try? encoder.encode(event) else { continue }
            data.append(line)
            data.append(UInt8(ascii: "\n"))
        }
        return data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(client, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }
    }

    private func reply(_ client: Int32, _ response: ControlResponse) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = (try? encoder.encode(response)) ?? Data("{\"ok\":false}".utf8)
        data.append(UInt8(ascii: "\n"))
        _ = data.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private static func setTimeouts(_ fd: Int32, _ timeout: Duration) {
        let seconds = timeout.components.seconds
        let micros = timeout.components.attoseconds / 1_000_000_000_000
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(micros))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Why a request to the daemon got no answer.
    public enum AskError: Error, CustomStringConvertible {
        /// Nothing listens at the socket (a stale path, or the daemon is stopping).
        case notListening(String)
        /// Connected, but no answer came within the timeout.
        case noAnswer(Duration)
        /// An answer came but it is not a `ControlResponse`.
        case garbled

        public var description: String {
            switch self {
            case .notListening(let reason): "its control socket does not accept connections (\(reason))"
            case .noAnswer(let timeout): "the daemon did not answer within \(timeout)"
            case .garbled: "the daemon's answer could not be read"
            }
        }
    }

    /// Asks the daemon at `path` for its events and hands each line to `onLine` as it arrives, until
    /// the daemon closes the stream (or `onLine` returns false). Without `follow`, `timeout` bounds
    /// the wait; a follow waits as long as the daemon runs.
    public static func events(_ path: String, follow: Bool, timeout: Duration = .seconds(10), onLine: (Data) -> Bool) -> AskError? {
        let fd: Int32
        switch connection(to: path, timeout: timeout) {
        case .success(let socket): fd = socket
        case .failure(let error): return error
        }
        defer { close(fd) }
        guard var data = try? JSONEncoder().encode(ControlRequest(.events, follow: follow)) else { return .garbled }
        data.append(UInt8(ascii: "\n"))
        guard data.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == data.count else {
            return .noAnswer(timeout)
        }
        if follow { setTimeouts(fd, .zero) }
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .noAnswer(timeout) }
            guard n > 0 else { return nil }
            pending.append(contentsOf: buffer[0..<n])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(pending[..<newline])
                pending.removeSubrange(...newline)
                if !onLine(line) { return nil }
            }
        }
    }

    /// A socket connected to the daemon listening at `path`, with `timeout` on its reads and
    /// writes (`connect` on a Unix socket whose backlog is full waits, bounded by the send
    /// timeout); the caller closes it.
    private static func connection(to path: String, timeout: Duration) -> Result<Int32, AskError> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(.notListening(String(cString: strerror(errno)))) }
        setTimeouts(fd, timeout)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let failure: AskError = errno == EAGAIN || errno == EINPROGRESS ? .noAnswer(timeout) : .notListening(String(cString: strerror(errno)))
            close(fd)
            return .failure(failure)
        }
        return .success(fd)
    }

    /// Sends one request to the daemon listening at `path` and waits up to `timeout` for its answer.
    public static func ask(_ path: String, _ request: ControlRequest, timeout: Duration = .seconds(10)) -> Result<ControlResponse, AskError> {
        let fd: Int32
        switch connection(to: path, timeout: timeout) {
        case .success(let socket): fd = socket
        case .failure(let error): return .failure(error)
        }
        defer { close(fd) }
        guard var data = try? JSONEncoder().encode(request) else { return .failure(.garbled) }
        data.append(UInt8(ascii: "\n"))
        guard data.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == data.count else {
            return .failure(.noAnswer(timeout))
        }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .failure(.noAnswer(timeout)) }
            guard n > 0 else { break }
            answer.append(contentsOf: buffer[0..<n])
        }
        guard let response = try? JSONDecoder().decode(ControlResponse.self, from: Data(answer)) else {
            return answer.isEmpty ? .failure(.noAnswer(timeout)) : .failure(.garbled)
        }
        return .success(response)
    }
}

/// Carries the handler's answer back to the client's thread.
/// `@unchecked Sendable`: written once by the handler task before the semaphore is signalled,
/// read by the client thread after it is.
private final class AnswerBox: @unchecked Sendable {
    var answer = ControlResponse.refused("no answer")
}
