import CSys
import Foundation
import Glibc

/// The daemon's control socket: a Unix stream socket (owner and group only) where `jigsync`
/// asks the running daemon for its live status and tells it to retry, pause or resume.
///
/// One request per connection: a JSON object on one line (`{"command": "status"}`), one JSON
/// answer on one line. Its own thread blocks in `poll()` on the listening socket and an eventfd
/// (for stop); a client that sends garbage, too much, or nothing within `readTimeout` is answered
/// with an error or dropped, and costs the daemon nothing else.
///
/// `@unchecked Sendable`: the descriptors are immutable; `handler` is called on the server's thread.
public final class ControlServer: @unchecked Sendable {
    public typealias Handler = @Sendable ([String: Any]) async -> [String: Any]

    /// Longest request accepted, in bytes.
    static let maxRequestBytes = 64 * 1024
    /// How long a client may take to send its request.
    static let readTimeout: Duration = .seconds(2)

    public let path: String
    private let listener: Int32
    private let wakeFD: Int32
    private let handler: Handler
    private var thread: Thread?
    private let stopping = ManagedAtomicFlag()

    /// `$RUNTIME_DIRECTORY/control.sock` under systemd, else beside the ledger.
    public static func defaultPath(ledger: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first, !runtime.isEmpty {
            return "\(runtime)/control.sock"
        }
        return ledger + ".sock"
    }

    public init(path: String, handler: @escaping Handler) throws(WatchError) {
        self.path = path
        self.handler = handler
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
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw WatchError(path: path, reason: "cannot listen: \(reason)")
        }
        listener = fd
        wakeFD = jigsync_eventfd()
    }

    deinit {
        close(listener)
        close(wakeFD)
    }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "jigsync-control"
        self.thread = thread
        thread.start()
    }

    public func stop() {
        stopping.set()
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        while let thread, !thread.isFinished { usleep(1000) }
        unlink(path)
    }

    private func run() {
        while !stopping.isSet {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, -1) > 0 else { continue }   // EINTR
            if stopping.isSet { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            serve(client)
            close(client)
        }
    }

    private func serve(_ client: Int32) {
        var timeout = timeval(tv_sec: Int(Self.readTimeout.components.seconds), tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.contains(UInt8(ascii: "\n")) {
            let n = recv(client, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }   // closed, timed out or failed: answer what arrived, if anything
            request.append(contentsOf: buffer[0..<n])
            if request.count > Self.maxRequestBytes {
                reply(client, ["ok": false, "error": "request too large"])
                return
            }
        }
        let line = request.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first.map { Data($0) } ?? Data()
        guard !line.isEmpty else { return }   // nothing sent: nothing to answer
        guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any], object["command"] is String else {
            reply(client, ["ok": false, "error": "expected one JSON object with a \"command\" on one line"])
            return
        }
        let box = AnswerBox()
        let semaphore = DispatchSemaphore(value: 0)
        let handler = self.handler
        let parsed = SendableRequest(object)
        Task {
            box.answer = await handler(parsed.object)
            semaphore.signal()
        }
        semaphore.wait()   // this thread is the control socket's own, never the cooperative pool
        reply(client, box.answer)
    }

    private func reply(_ client: Int32, _ object: [String: Any]) {
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        data.append(UInt8(ascii: "\n"))
        _ = data.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Sends one request to the daemon listening at `path`; nil when none answers.
    public static func ask(_ path: String, _ request: [String: Any], timeout: Duration = .seconds(30)) -> [String: Any]? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return nil }
        var wait = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        guard var data = try? JSONSerialization.data(withJSONObject: request) else { return nil }
        data.append(UInt8(ascii: "\n"))
        guard data.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == data.count else { return nil }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            answer.append(contentsOf: buffer[0..<n])
        }
        return (try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any]
    }
}

/// Carries the handler's answer back to the control thread.
/// `@unchecked Sendable`: written once by the handler task before the semaphore is signalled,
/// read by the control thread after it is.
private final class AnswerBox: @unchecked Sendable {
    var answer: [String: Any] = ["ok": false, "error": "no answer"]
}

/// A parsed JSON request handed to the async handler.
/// `@unchecked Sendable`: made of JSON values (strings, numbers, arrays, dictionaries), never mutated.
private struct SendableRequest: @unchecked Sendable {
    let object: [String: Any]
    init(_ object: [String: Any]) { self.object = object }
}
