import CCurl
import Crypto
import Foundation

/// What one HTTP exchange produced, handed back from the curl thread.
struct CurlOutcome: Sendable {
    /// The status of the final answer; 0 when no answer arrived.
    var status: Int = 0
    /// Headers of the final answer, names lower-cased.
    var headers: [String: String] = [:]
    /// The body when it was collected in memory.
    var body = Data()
    /// Bytes of the request body sent and their SHA-256 (hex), for uploads.
    var sentBytes: Int64 = 0
    var sentSHA256: String?
    /// Bytes of the answer body received and their SHA-256, for downloads.
    var receivedBytes: Int64 = 0
    var receivedSHA256: String?
    /// Set when the exchange failed before an answer could be used.
    var failure: StoreError?
}

/// Where the body of an answer goes.
enum ResponseSink {
    /// Collected in memory up to a limit (JSON answers).
    case memory(limit: Int)
    /// Streamed to a file and hashed (downloads); collected in memory instead when the status is not 200.
    case file(WritableFile)
}

/// Why the curl thread ended a transfer itself.
enum TransferAbort {
    case fileChanged(String)
    case sendStalled(Duration)
    case noResponse(Duration)
    case answerIncomplete(Duration)
    case receiveStalled(Duration)
    case responseTooLarge(Int)
    case sinkFailed(String)
    case cancelled
    /// A transfer of a chain not started, because the one before it got no answer.
    case notSent
    /// curl could not allocate an easy handle for it.
    case noHandle
}

/// One HTTP exchange: owns its easy handle and header list, and receives curl's callbacks.
///
/// Built on the caller's thread, then owned by the curl-multi thread, which alone touches it
/// until `complete` is called. Its easy handle is taken when the loop starts it and given back
/// when it ends (`EasyHandles`): a chain of 32 uploads holds one handle at a time, not 32.
final class CurlTransfer {
    typealias Completion = @Sendable (CurlOutcome) -> Void

    /// The handle while the loop runs the transfer (`attach()` to `detach()`).
    private(set) var easy: UnsafeMutableRawPointer?
    private let method: String
    private let url: String
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let body: UploadBody?
    private let sink: ResponseSink
    private let timeouts: StoreConfiguration
    private let redactor: APIKey?
    private let completion: Completion
    /// Told the bytes sent so far (on the curl thread), for live status.
    var onProgress: (@Sendable (Int64) -> Void)?
    /// Set by the loop under a bandwidth cap: how many of the bytes wanted may be read now (0: pause).
    var sendGate: ((Int) -> Int)?
    /// Whether the file is looked at once more through its descriptor when the answer arrives.
    /// Off when the caller looks at the file's path then (`checkingAfterAnswer`): the path shows
    /// all the descriptor would (same inode, size and times, or not) and a replaced file too.
    var verifiesAfterAnswer = true
    /// Whether the transfer sends a body (and so draws on a bandwidth cap).
    var hasBody: Bool { body != nil }
    /// curl writes its detailed error here; it must outlive the handle, so it is allocated, not an array.
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    private var outcome = CurlOutcome()
    private var receiveHasher = SHA256()
    private var collectingInMemory: Bool
    /// Progress bookkeeping, on the monotonic clock.
    private var lastProgress = ContinuousClock.now
    private var lastUploaded: Int64 = -1
    private var lastDownloaded: Int64 = -1
    private var uploadFinished: Bool {
        didSet { if uploadFinished && !oldValue { bodyEndedAt = .now } }
    }
    /// When the last byte of the request was handed over (the transfer's start when it has no
    /// body): the answer is due by this plus the response timeout, however it trickles in.
    private var bodyEndedAt: ContinuousClock.Instant
    /// Whether any byte of the answer arrived, and whether its final headers are complete.
    private var answerStarted = false
    private var headersComplete = false
    private(set) var abortReason: TransferAbort?

    init(method: String, url: String, headers: [String], body: UploadBody?, sink: ResponseSink,
         configuration: StoreConfiguration, completion: @escaping Completion) {
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        self.method = method
        self.url = url
        self.body = body
        self.sink = sink
        self.timeouts = configuration
        self.redactor = configuration.apiKey
        self.completion = completion
        self.uploadFinished = body == nil
        self.bodyEndedAt = .now
        if case .file = sink { collectingInMemory = false } else { collectingInMemory = true }
        for header in headers { headerList = curl_slist_append(headerList, header) }
    }

    deinit {
        detach()
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// The largest body read whole and sent with the headers (curl appends fields under 64 KiB
    /// to the request it writes): one write, one segment and one wake-up of the server per small
    /// file instead of two. (3,000 files of 4 KiB: 11 % fewer context switches, CPU 2.6 % less.)
    static let wholeBodyLimit: Int64 = 60 * 1024

    /// Takes a handle and sets every option (on the loop thread, as the transfer starts);
    /// false when it cannot start: no handle, or the small body read whole changed (`abortReason`).
    func attach() -> Bool {
        guard let easy = EasyHandles.take() else {
            abortReason = .noHandle
            return false
        }
        self.easy = easy
        configure(easy, configuration: timeouts)
        return abortReason == nil
    }

    /// Gives the handle back once no multi holds it and its last figures have been read.
    func detach() {
        guard let easy else { return }
        self.easy = nil
        EasyHandles.giveBack(easy)
    }

    private func configure(_ easy: UnsafeMutableRawPointer, configuration: StoreConfiguration) {
        let me = Unmanaged.passUnretained(self).toOpaque()   // self outlives the handle: deinit cleans it up.
        jigsync_curl_setopt_string(easy, CURLOPT_URL, url)
        // The key may hold `.` or `..` segments; send the path exactly as the key says.
        jigsync_curl_setopt_long(easy, CURLOPT_PATH_AS_IS, 1)
        jigsync_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        jigsync_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)  // never carry the key to another host
        jigsync_curl_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1)
        jigsync_curl_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2)
        if let ca = configuration.caBundle { jigsync_curl_setopt_string(easy, CURLOPT_CAINFO, ca) }
        jigsync_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(configuration.connectTimeout))
        let version = configuration.httpVersion == .http1_1 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2TLS
        jigsync_curl_setopt_long(easy, CURLOPT_HTTP_VERSION, version)
        jigsync_curl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        jigsync_curl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        jigsync_curl_setopt_pointer(easy, CURLOPT_PRIVATE, me)

        jigsync_curl_setopt_pointer(easy, CURLOPT_HEADERDATA, me)
        jigsync_curl_setopt_data_cb(easy, CURLOPT_HEADERFUNCTION) { buffer, size, count, userdata in
            Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue().receiveHeader(buffer!, size * count)
        }
        jigsync_curl_setopt_pointer(easy, CURLOPT_WRITEDATA, me)
        jigsync_curl_setopt_data_cb(easy, CURLOPT_WRITEFUNCTION) { buffer, size, count, userdata in
            Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue().receiveBody(buffer!, size * count)
        }
        jigsync_curl_setopt_long(easy, CURLOPT_NOPROGRESS, 0)
        jigsync_curl_setopt_pointer(easy, CURLOPT_XFERINFODATA, me)
        jigsync_curl_setopt_xferinfo_cb(easy) { userdata, _, downloaded, _, uploaded in
            Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue().progress(uploaded: uploaded, downloaded: downloaded)
        }

        switch method {
        case "POST":
            jigsync_curl_setopt_long(easy, CURLOPT_POST, 1)
            // A declared length: never chunked, and the server learns the size before the body.
            jigsync_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body?.declaredLength ?? 0))
            if let body, sendGate == nil, body.declaredLength <= Self.wholeBodyLimit {
                // Small: read whole now (hashed and checked at its end as `fill` does) and handed
                // to curl as the request's fields, which it writes with the headers. curl resends
                // them itself on a reused connection the server had closed: the same bytes.
                guard let bytes = body.readWhole() else {
                    abortReason = .fileChanged(body.changeReason ?? "changed while it was being read")
                    return
                }
                jigsync_curl_setopt_pointer(easy, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress!))
            } else if body != nil {
                jigsync_curl_setopt_pointer(easy, CURLOPT_READDATA, me)
                jigsync_curl_setopt_data_cb(easy, CURLOPT_READFUNCTION) { buffer, size, count, userdata in
                    Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue().sendBody(buffer!, size * count)
                }
                jigsync_curl_setopt_pointer(easy, CURLOPT_SEEKDATA, me)
                jigsync_curl_setopt_seek_cb(easy) { userdata, offset, origin in
                    Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue().seekBody(offset, origin)
                }
            } else {
                jigsync_curl_setopt_string(easy, CURLOPT_POSTFIELDS, "")
            }
        case "GET":
            jigsync_curl_setopt_long(easy, CURLOPT_HTTPGET, 1)
        default:
            jigsync_curl_setopt_string(easy, CURLOPT_CUSTOMREQUEST, method)
        }
        jigsync_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList)
    }

    // MARK: callbacks (curl thread)

    private func sendBody(_ buffer: UnsafeMutablePointer<CChar>, _ capacity: Int) -> Int {
        guard let body else { return 0 }
        var capacity = capacity
        if let sendGate {
            capacity = sendGate(capacity)
            if capacity == 0 { return jigsync_curl_readfunc_pause() }   // the loop unpauses it when the cap allows
        }
        if let n = body.fill(UnsafeMutableRawBufferPointer(start: buffer, count: capacity)) { return n }
        abortReason = .fileChanged(body.verifyUnchangedAfterSend() ?? "changed while it was being sent")
        return jigsync_curl_readfunc_abort()
    }

    private func seekBody(_ offset: curl_off_t, _ origin: Int32) -> Int32 {
        // Only a rewind to the start is supported: the hash must cover the body from its first byte.
        guard let body, offset == 0, origin == SEEK_SET else { return jigsync_curl_seekfunc_cantseek() }
        body.rewind()
        return jigsync_curl_seekfunc_ok()
    }

    private func receiveHeader(_ buffer: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        answerStarted = true
        // The blank line ends a block of headers; only a final answer's (not a 1xx) counts.
        if Self.apply(headerBytes: UnsafeRawBufferPointer(start: buffer, count: count), to: &outcome), outcome.status >= 200 {
            headersComplete = true
        }
        if outcome.status >= 200 { uploadFinished = true }
        lastProgress = .now
        return count
    }

    /// Applies one line of an answer's head (a status line or a header) to `outcome`; returns
    /// true for the blank line that ends a block of headers. The server's bytes: fuzzed by `Fuzz/`.
    static func apply(headerLine raw: String, to outcome: inout CurlOutcome) -> Bool {
        var raw = raw
        return raw.withUTF8 { apply(headerBytes: UnsafeRawBufferPointer($0), to: &outcome) }
    }

    /// `apply(headerLine:to:)` on the bytes curl hands over, with no String made but the header's
    /// name (lower-cased as ASCII) and value: this runs for every header of every answer.
    static func apply(headerBytes bytes: UnsafeRawBufferPointer, to outcome: inout CurlOutcome) -> Bool {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        var start = 0, end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        if start == end { return true }
        let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
        if line.count >= 5, line[0] == 0x48, line[1] == 0x54, line[2] == 0x54, line[3] == 0x50, line[4] == 0x2F {   // "HTTP/"
            // A new status line (after a 100 Continue, say): headers belong to the latest answer.
            outcome.headers = Dictionary(minimumCapacity: 16)   // an answer's usual headers, without regrowing
            outcome.status = statusCode(line)
        } else if let colon = line.firstIndex(of: 0x3A) {   // ":"
            let name = String(unsafeUninitializedCapacity: colon) { target in
                for index in 0..<colon {
                    let byte = line[index]
                    target[index] = byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte
                }
                return colon
            }
            var valueStart = colon + 1, valueEnd = line.count
            while valueStart < valueEnd, isSpace(line[valueStart]) { valueStart += 1 }
            while valueEnd > valueStart, isSpace(line[valueEnd - 1]) { valueEnd -= 1 }
            outcome.headers[name] = String(decoding: line[valueStart..<valueEnd], as: UTF8.self)
        }
        return false
    }

    /// The status code of a status line: its second space-separated field as a number, 0 when
    /// it is none.
    private static func statusCode(_ line: UnsafeRawBufferPointer) -> Int {
        var index = 0
        while index < line.count, line[index] != 0x20 { index += 1 }
        while index < line.count, line[index] == 0x20 { index += 1 }
        var status = 0, digits = 0
        while index < line.count, line[index] != 0x20 {
            let byte = line[index]
            guard byte >= 0x30, byte <= 0x39, digits < 9 else { return 0 }
            status = status * 10 + Int(byte - 0x30)
            digits += 1
            index += 1
        }
        return digits > 0 ? status : 0
    }

    private func receiveBody(_ buffer: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        let bytes = UnsafeRawBufferPointer(start: buffer, count: count)
        if case .file(let file) = sink, outcome.status == 200 {
            collectingInMemory = false
            do { try file.write(bytes) } catch {
                abortReason = .sinkFailed(error.description)
                return 0
            }
            receiveHasher.update(bufferPointer: bytes)
        } else {
            collectingInMemory = true
            let limit = if case .memory(let limit) = sink { limit } else { timeouts.maxResponseBytes }
            guard outcome.body.count + count <= limit else {
                abortReason = .responseTooLarge(limit)
                return 0
            }
            outcome.body.append(contentsOf: bytes)
        }
        outcome.receivedBytes += Int64(count)
        return count
    }

    private func progress(uploaded: curl_off_t, downloaded: curl_off_t) -> Int32 {
        if Int64(uploaded) != lastUploaded || Int64(downloaded) != lastDownloaded {
            if Int64(uploaded) != lastUploaded { onProgress?(Int64(uploaded)) }
            lastUploaded = Int64(uploaded)
            lastDownloaded = Int64(downloaded)
            lastProgress = .now
        }
        if let body, Int64(uploaded) >= body.declaredLength, !uploadFinished {
            uploadFinished = true
            lastProgress = .now
        }
        return 0
    }

    // MARK: driven by the multi loop

    /// Whether the rest of the answer is bounded by the absolute answer deadline: its headers
    /// until they are complete, and every answer kept in memory (JSON, an error body), which is
    /// small. Only a download's body, which may be 100 MB on a slow link, is bounded by the
    /// stall timeout alone.
    private var answerHasDeadline: Bool {
        guard headersComplete else { return true }
        if case .file = sink, outcome.status == 200 { return false }
        return true
    }

    /// When this transfer must have made progress by, or be aborted.
    ///
    /// While sending, each byte sent extends it (a stall timeout). Once the body is sent, the
    /// answer has an absolute deadline from the end of the body: a server that trickles one
    /// header line every few seconds must not hold the upload for ever by resetting a clock.
    var deadline: ContinuousClock.Instant {
        if !uploadFinished { return lastProgress + timeouts.sendStallTimeout }
        if answerHasDeadline { return bodyEndedAt + timeouts.responseTimeout }
        return lastProgress + timeouts.receiveStallTimeout
    }

    /// The loop started it: its clocks run from now (a transfer of a chain waits for the one
    /// before it, and that wait is no stall).
    func started() {
        lastProgress = .now
        if body == nil { bodyEndedAt = .now }
    }

    /// Records why the loop gave up on the transfer because its deadline passed.
    func expire() {
        if !uploadFinished {
            abortReason = .sendStalled(timeouts.sendStallTimeout)
        } else if answerHasDeadline {
            abortReason = answerStarted ? .answerIncomplete(timeouts.responseTimeout) : .noResponse(timeouts.responseTimeout)
        } else {
            abortReason = .receiveStalled(timeouts.receiveStallTimeout)
        }
    }

    func cancel() { abortReason = .cancelled }

    var wasCancelled: Bool {
        if case .cancelled? = abortReason { return true }
        return false
    }

    /// Ends a transfer that was never started (a chain's rest, after a transfer without answer).
    func skip() { abortReason = .notSent }

    /// Whether the server answered (any status), or the transfer ended for a reason of this side
    /// (the file changed, the answer too large): the next of its chain may go. A transfer that
    /// got no answer (refused, reset, timed out, cancelled) ends its chain.
    var chainMayGoOn: Bool {
        switch abortReason {
        case nil: outcome.status >= 200
        case .fileChanged?, .responseTooLarge?, .sinkFailed?: true
        default: false
        }
    }

    /// Called once by the loop when curl is done with the handle (or the loop aborted it).
    func finish(code: CURLcode) {
        var result = outcome
        if let body {
            result.sentBytes = body.offset
            result.sentSHA256 = body.sentDigest()
        }
        if case .file = sink, !collectingInMemory {
            result.receivedSHA256 = receiveHasher.finalize().hexString
        }
        if let reason = abortReason {
            result.failure = Self.error(for: reason)
        } else if code != CURLE_OK {
            let detail = errorBuffer.pointee == 0 ? String(cString: curl_easy_strerror(code)) : String(cString: errorBuffer)
            result.failure = StoreError(.retryLater, message: redact("network: \(detail)"))
        } else if let body, result.status == 200, let change = verifiesAfterAnswer ? body.verifyUnchangedAfterSend() : body.changeReason {
            result.failure = StoreError(.fileChanged, status: 200, message: "\(body.file.path) \(change)")
        } else if result.status == 0 {
            result.failure = StoreError(.retryLater, message: "the server closed the connection without an answer")
        } else if let body, result.status == 200, let shortfall = unsentBytes(of: body) {
            result.failure = StoreError(.unconfirmed, status: 200, message: shortfall)
        }
        completion(result)
    }

    /// Why a 200 does not cover the whole body, or nil when every declared byte went out.
    ///
    /// A server or proxy may answer before the body is complete; curl then stops sending and
    /// reports success. The answer speaks for the bytes it saw, not the file: both what curl put
    /// on the wire and what was read and hashed must reach the declared length.
    private func unsentBytes(of body: UploadBody) -> String? {
        var uploaded: curl_off_t = 0
        let onWire = easy.map { jigsync_curl_getinfo_off($0, CURLINFO_SIZE_UPLOAD_T, &uploaded) == CURLE_OK } == true ? Int64(uploaded) : body.offset
        let sent = min(onWire, body.offset)
        guard sent < body.declaredLength else { return nil }
        return "the server answered 200 when only \(sent) of \(body.declaredLength) bytes had been sent; not taken as stored"
    }

    private func redact(_ text: String) -> String { redactor?.redact(text) ?? text }

    private static func error(for reason: TransferAbort) -> StoreError {
        switch reason {
        case .fileChanged(let why): StoreError(.fileChanged, message: "file \(why)")
        case .sendStalled(let limit): StoreError(.retryLater, message: "sending made no progress for \(limit); aborted")
        case .noResponse(let limit): StoreError(.retryLater, message: "no answer within \(limit) after the body was sent; aborted")
        case .answerIncomplete(let limit):
            StoreError(.retryLater, message: "the answer was still incomplete \(limit) after the body was sent (the server sends it too slowly); aborted")
        case .receiveStalled(let limit): StoreError(.retryLater, message: "receiving made no progress for \(limit); aborted")
        case .responseTooLarge(let limit): StoreError(.retryLater, message: "the server's answer exceeded \(limit) bytes; not the JSON expected")
        case .sinkFailed(let why): StoreError(.fixConfiguration, message: "could not write the download: \(why)")
        case .cancelled: StoreError(.cancelled, message: "cancelled")
        case .notSent: StoreError(.notSent, message: "not sent: the upload before it in its batch got no answer")
        case .noHandle: StoreError(.retryLater, message: "curl_easy_init failed (out of memory?)")
        }
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds) * 1000 + Int(duration.components.attoseconds / 1_000_000_000_000_000)
    }
}
