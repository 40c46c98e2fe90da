import CSys
import Foundation
import Glibc
import Prometheus

/// `metrics.listen`: a small HTTP/1.1 listener that answers `GET /metrics` with the Prometheus
/// text exposition of the registry, and nothing else.
///
/// One thread of its own blocks in `poll()` on the listening socket and an eventfd (for stop),
/// and serves each scrape itself: a scrape is a few kilobytes, and a slow or silent client holds
/// only this thread for at most `readTimeout`, never the daemon. Idle, it costs nothing. Before it
/// renders, `refresh` (run on this thread; it may block it, never the cooperative pool) updates
/// the gauges that describe state, so the data path never keeps them.
///
/// `@unchecked Sendable`: the registry is immutable and thread-safe; so is the accept loop.
public final class MetricsServer: @unchecked Sendable {
    /// How long a client may take to send its request.
    static let readTimeout: Duration = .seconds(2)
    /// Longest request head accepted.
    static let maxRequestBytes = 16 * 1024

    /// The address and port it listens on (the port the kernel chose, for port 0).
    public let address: String
    public let port: Int
    private let loop: AcceptLoop
    private let registry: PrometheusCollectorRegistry
    private let refresh: @Sendable () -> Void

    /// Parses `IPV4:PORT` (`127.0.0.1:9464`, or `localhost:9464`).
    public static func parse(_ listen: String) -> (address: String, port: Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(listen[..<colon])
        if host == "localhost" { host = "127.0.0.1" }
        var probe = in_addr()
        guard inet_pton(AF_INET, host, &probe) == 1 else { return nil }
        return (host, port)
    }

    public init(listen: String, registry: PrometheusCollectorRegistry, refresh: @escaping @Sendable () -> Void) throws(ConfigurationError) {
        guard let (host, port) = Self.parse(listen) else {
            throw ConfigurationError(file: "metrics.listen", reason: "\(listen) is not IPV4:PORT (write 127.0.0.1:9464)")
        }
        self.registry = registry
        self.refresh = refresh
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ConfigurationError(file: "metrics.listen", reason: "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ConfigurationError(file: "metrics.listen", reason: "cannot listen on \(listen): \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.address = host
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        loop = AcceptLoop(listener: fd)
    }

    /// Serves scrapes, one at a time, on the accept thread.
    public func start() {
        loop.start(name: "jigsync-metrics") { [self] client in
            serve(client)
            close(client)
        }
    }

    public func stop() async {
        await loop.stop()
    }

    private func serve(_ client: Int32) {
        let seconds = Self.readTimeout.components.seconds
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end = Array("\r\n\r\n".utf8)
        while head.count < Self.maxRequestBytes {
            let n = recv(client, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            head.append(contentsOf: buffer[0..<n])
            if contains(head, end) { break }
        }
        let requestLine = String(decoding: head.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self).split(separator: " ")
        guard requestLine.count >= 2 else { return respond(client, 400, "Bad Request", Array("bad request\n".utf8)) }
        let target = requestLine[1].split(separator: "?").first.map(String.init) ?? ""
        guard requestLine[0] == "GET" || requestLine[0] == "HEAD" else {
            return respond(client, 405, "Method Not Allowed", Array("only GET /metrics\n".utf8))
        }
        guard target == "/metrics" else { return respond(client, 404, "Not Found", Array("only /metrics is served here\n".utf8)) }
        refresh()
        var body: [UInt8] = []
        registry.emit(into: &body)
        respond(client, 200, "OK", requestLine[0] == "HEAD" ? [] : body, contentType: "text/plain; version=0.0.4; charset=utf-8",
                length: body.count)
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start..<start + needle.count].elementsEqual(needle) { return true }
        return false
    }

    private func respond(_ client: Int32, _ status: Int, _ reason: String, _ body: [UInt8],
                         contentType: String = "text/plain; charset=utf-8", length: Int? = nil) {
        let header = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(length ?? body.count)\r\nConnection: close\r\n\r\n"
        var data = Array(header.utf8)
        data.append(contentsOf: body)
        var offset = 0
        while offset < data.count {
            let n = data.withUnsafeBytes { send(client, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
    }
}
