import Foundation

/// A client of JigsawStack File Storage: upload, read and delete, over libcurl.
///
/// All requests of one client share a curl-multi thread and its connection cache. Methods are
/// `async` and never block the caller's thread: they hand the transfer to that thread and
/// suspend until it completes. Cancelling the calling task aborts the transfer.
public final class FileStoreClient: Sendable {
    public let configuration: StoreConfiguration
    private let loop: CurlMultiLoop

    public init(configuration: StoreConfiguration) {
        self.configuration = configuration
        self.loop = CurlMultiLoop(maxSendRate: configuration.maxSendRate)
    }

    deinit { loop.shutdown() }

    /// Options of an upload, as the API names them.
    public struct UploadOptions: Sendable {
        /// The key to store under; the server picks a random one when nil.
        public var key: String?
        /// Replace an existing file under the same key.
        public var overwrite = false
        /// Sent as `Content-Type` and `content_type`; nil lets the service detect it.
        public var contentType: String?
        /// Ask for a temporary public URL.
        public var temporaryPublicURL = false

        public init(key: String? = nil, overwrite: Bool = false, contentType: String? = nil, temporaryPublicURL: Bool = false) {
            self.key = key
            self.overwrite = overwrite
            self.contentType = contentType
            self.temporaryPublicURL = temporaryPublicURL
        }
    }

    /// Uploads `file`, streaming it from its descriptor with its length declared.
    ///
    /// - Returns: the server's answer with the length and SHA-256 of the bytes actually sent.
    /// - Throws: `StoreError`; `.fileChanged` when the file changed while it was sent.
    /// - Parameter progress: told the bytes sent so far, from the curl thread (keep it cheap).
    /// - Parameter check: run on the curl thread as the answer arrives, before the caller resumes
    ///   (the uploader's `lstat` of the path: the file must still be the one sent); its result is
    ///   the result's `checkedAfterAnswer`. Saves a trip to another thread per file.
    public func upload(_ file: ReadableFile, options: UploadOptions,
                       progress: (@Sendable (Int64) -> Void)? = nil,
                       checkingAfterAnswer check: (@Sendable () -> FileStat?)? = nil) async throws(StoreError) -> UploadResult {
        // A chain of one: the same transfer, the same reading of its answer.
        try await upload(chain: [ChainedUpload(file: file, options: options, progress: progress, checkingAfterAnswer: check)])[0].get()
    }

    /// One upload of a chain: the file, its options, and what `upload` takes beside them.
    public struct ChainedUpload: Sendable {
        public var file: ReadableFile
        public var options: UploadOptions
        public var progress: (@Sendable (Int64) -> Void)?
        public var checkingAfterAnswer: (@Sendable () -> FileStat?)?

        public init(file: ReadableFile, options: UploadOptions, progress: (@Sendable (Int64) -> Void)? = nil,
                    checkingAfterAnswer: (@Sendable () -> FileStat?)? = nil) {
            self.file = file
            self.options = options
            self.progress = progress
            self.checkingAfterAnswer = checkingAfterAnswer
        }
    }

    /// Uploads several files one after another, as one caller's share of the connections: the
    /// curl thread starts each as the one before it ends, and the caller resumes once, when the
    /// last has ended (a small file costs one hand-off per batch, not two per file). Each result
    /// is what `upload` would have returned or thrown for that file. Cancelling the calling task
    /// aborts the one in flight and those not started.
    public func upload(chain uploads: [ChainedUpload]) async -> [Result<UploadResult, StoreError>] {
        guard !uploads.isEmpty else { return [] }
        let request: [(url: String, headers: [String])]
        do throws(StoreError) {
            request = try uploads.map { upload throws(StoreError) in try uploadRequest(upload.options) }
        } catch {
            return uploads.map { _ in .failure(error) }
        }
        let results = ChainResults(count: uploads.count)
        let box = ChainIDs()
        let configuration = self.configuration
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                results.whenComplete = { continuation.resume() }
                var transfers: [CurlTransfer] = []
                for (index, upload) in uploads.enumerated() {
                    let check = upload.checkingAfterAnswer
                    let transfer = CurlTransfer(method: "POST", url: request[index].url, headers: request[index].headers,
                                                body: UploadBody(file: upload.file), sink: .memory(limit: configuration.maxResponseBytes),
                                                configuration: configuration) { outcome in
                        results.set(index, outcome: outcome, checked: outcome.failure == nil ? check?() : nil)
                    }
                    transfer.onProgress = upload.progress
                    transfer.verifiesAfterAnswer = check == nil
                    transfers.append(transfer)
                }
                box.set(loop.submitChain(transfers), cancelled: Task.isCancelled, loop: loop)
            }
        } onCancel: {
            box.cancel(loop: loop)
        }
        return results.take().enumerated().map { index, entry -> Result<UploadResult, StoreError> in
            switch entry {
            case .failure(let error): return .failure(error)
            case .success(let (outcome, checked)):
                do throws(StoreError) {
                    if let failure = outcome.failure { throw failure }
                    var result = try Self.uploadResult(outcome, asked: uploads[index].options.key, apiKey: configuration.apiKey)
                    result.checkedAfterAnswer = checked
                    return .success(result)
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    /// The URL and headers of an upload with `options`.
    private func uploadRequest(_ options: UploadOptions) throws(StoreError) -> (url: String, headers: [String]) {
        var query: [(String, String)] = []
        if let key = options.key { query.append(("key", key)) }
        query.append(("overwrite", options.overwrite ? "true" : "false"))
        if options.temporaryPublicURL { query.append(("temp_public_url", "true")) }
        if let type = options.contentType { query.append(("content_type", type)) }
        let url = urls.uploadURL + "?" + query.map { "\($0)=\(KeyEncoding.queryValue($1))" }.joined(separator: "&")
        var headers = try authHeaders()
        headers.append("Content-Type: \(options.contentType ?? "application/octet-stream")")
        // Without this, curl waits up to a second for `100 Continue` before sending a large body.
        headers.append("Expect:")
        return (url, headers)
    }

    /// What an upload's answer means: the result when it confirms every byte sent under the key
    /// asked for, otherwise the `StoreError` it amounts to. Pure: the server's status, headers
    /// and body are outside input (fuzzed by `Fuzz/`).
    static func uploadResult(_ outcome: CurlOutcome, asked: String?, apiKey: APIKey?) throws(StoreError) -> UploadResult {
        try check(outcome, operation: .upload, apiKey: apiKey)
        let answer: UploadAnswer
        do {
            answer = try UploadAnswer.decode(outcome.body)
        } catch {
            throw notTheJSONExpected(outcome, apiKey: apiKey)
        }
        let key = try confirm(answer, asked: asked, sentBytes: outcome.sentBytes)
        let rateLimit = RateLimitStatus(headers: outcome.headers)
        return UploadResult(key: key, url: answer.url, size: answer.size,
                            temporaryPublicURL: answer.temp_public_url,
                            sentBytes: outcome.sentBytes, sentSHA256: outcome.sentSHA256 ?? "",
                            rateLimit: rateLimit, responseBody: outcome.body,
                            rateLimitWait: rateLimit?.remaining == 0 ? ServerWait.wait(from: outcome.headers) : nil)
    }

    /// Reads the file stored under `key` into `destination`, hashing it as it arrives.
    public func read(key: String, into destination: WritableFile) async throws(StoreError) -> DownloadResult {
        let outcome = try await perform(method: "GET", url: fileURL(key), headers: try authHeaders(),
                                        body: nil, sink: .file(destination))
        try check(outcome, operation: .read)
        return DownloadResult(bytes: outcome.receivedBytes, sha256: outcome.receivedSHA256 ?? "",
                              contentType: outcome.headers["content-type"])
    }

    /// Deletes the file stored under `key`.
    ///
    /// Any 2xx is done: the official SDKs expect no body from a delete, so an empty or non-JSON
    /// answer is a success; `success` is read only from a JSON body, where `false` is a failure.
    public func delete(key: String) async throws(StoreError) {
        let outcome = try await perform(method: "DELETE", url: fileURL(key), headers: try authHeaders(),
                                        body: nil, sink: .memory(limit: configuration.maxResponseBytes))
        try Self.deleteOutcome(outcome, apiKey: configuration.apiKey)
    }

    /// What a delete's answer means (pure, like `uploadResult`).
    static func deleteOutcome(_ outcome: CurlOutcome, apiKey: APIKey?) throws(StoreError) {
        if !(200..<300).contains(outcome.status) { try check(outcome, operation: .delete, apiKey: apiKey) }
        struct Answer: Decodable { var success: Bool? }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: outcome.body) else { return }
        guard answer.success != false else {
            throw StoreError(.retryLater, status: outcome.status, message: "the server answered success=false to the delete")
        }
    }

    // MARK: -

    /// The key the answer confirms, when it speaks for exactly what was sent; otherwise the
    /// upload is `unconfirmed`. A `size` other than the bytes sent means the service holds
    /// other bytes; a `key` other than the one asked for (compared byte for byte: a key
    /// normalized to another Unicode form is another key) means they are somewhere else.
    private static func confirm(_ answer: UploadAnswer, asked: String?, sentBytes: Int64) throws(StoreError) -> String {
        if let size = answer.size, size != sentBytes {
            throw StoreError(.unconfirmed, status: 200,
                             message: "the server answered 200 but reports \(size) bytes stored of the \(sentBytes) sent; not taken as stored")
        }
        switch (answer.key, asked) {
        case (let answered?, let asked?) where PathBytes(answered) != PathBytes(asked):
            throw StoreError(.unconfirmed, status: 200,
                             message: "the server answered 200 for the key \(answered), not the key asked for (\(asked)); not taken as stored")
        case (let answered?, _):
            return answered
        case (nil, let asked?):
            return asked
        case (nil, nil):
            throw StoreError(.retryLater, status: 200, message: "the server answered 200 without saying which key it chose")
        }
    }

    private var urls: StoreURLs { StoreURLs(configuration: configuration) }

    private func fileURL(_ key: String) -> String { urls.fileURL(key: key) }

    private func authHeaders() throws(StoreError) -> [String] {
        guard let key = configuration.apiKey else {
            throw StoreError(.fixConfiguration, message: "no API key: set JIGSAWSTACK_API_KEY")
        }
        var headers = ["x-api-key: \(key.secret)", "Accept: application/json", "User-Agent: jigsync/\(JigsyncVersion.current)"]
        if !configuration.requestLog { headers.append("\(StoreConfiguration.noRequestLogHeader): true") }
        for header in configuration.extraHeaders { headers.append("\(header.name): \(header.value)") }
        return headers
    }

    /// Runs a transfer on the curl thread (a read or a delete; uploads go as chains).
    private func perform(method: String, url: String, headers: [String], body: UploadBody?, sink: ResponseSink) async throws(StoreError) -> CurlOutcome {
        let box = TransferIDBox()
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<CurlOutcome, Never>) in
                let transfer = CurlTransfer(method: method, url: url, headers: headers, body: body, sink: sink,
                                            configuration: configuration) { continuation.resume(returning: $0) }
                box.set(loop.submit(transfer), cancelled: Task.isCancelled, loop: loop)
            }
        } onCancel: {
            box.cancel(loop: loop)
        }
        if let failure = outcome.failure { throw failure }
        return outcome
    }

    private func check(_ outcome: CurlOutcome, operation: StoreError.Operation) throws(StoreError) {
        try Self.check(outcome, operation: operation, apiKey: configuration.apiKey)
    }

    private static func check(_ outcome: CurlOutcome, operation: StoreError.Operation, apiKey: APIKey?) throws(StoreError) {
        guard outcome.status != 200 else { return }
        let message = serverMessage(outcome, apiKey: apiKey)
        throw StoreError.classify(status: outcome.status, operation: operation, serverMessage: message,
                                  retryAfter: ServerWait.wait(from: outcome.headers))
    }

    /// The server's `message` (and `error`), or a quote of what it sent when that is not JSON.
    private static func serverMessage(_ outcome: CurlOutcome, apiKey: APIKey?) -> String {
        func redact(_ text: String) -> String { apiKey?.redact(text) ?? text }
        struct ErrorBody: Decodable { var message: String?; var error: String? }
        if let body = try? JSONDecoder().decode(ErrorBody.self, from: outcome.body), body.message != nil || body.error != nil {
            let parts = [body.message, body.error.map { "(\($0))" }].compactMap { $0 }
            return redact(parts.joined(separator: " "))
        }
        return redact("unexpected answer: " + Self.quote(outcome.body))
    }

    private static func notTheJSONExpected(_ outcome: CurlOutcome, apiKey: APIKey?) -> StoreError {
        let message = "the server answered \(outcome.status) but not with the JSON expected: " + Self.quote(outcome.body)
        return StoreError(.retryLater, status: outcome.status, message: apiKey?.redact(message) ?? message)
    }


    /// The first bytes of a body, printable, for an error message.
    static func quote(_ body: Data) -> String {
        if body.isEmpty { return "(empty body)" }
        // Control characters (newlines, NULs) would break the one-line message: blank them.
        let text = String(decoding: body.prefix(200), as: UTF8.self).map { $0.isASCII && ($0.asciiValue ?? 0) < 0x20 ? " " : $0 }
        return "\"" + String(text) + (body.count > 200 ? "…" : "") + "\""
    }
}

/// Ties a task's cancellation to the transfer id once the loop has it.
///
/// `@unchecked Sendable`: both fields are guarded by `lock`.
private final class TransferIDBox: @unchecked Sendable {
    private let lock = NSLock()
    private var id: CurlMultiLoop.TransferID?
    private var cancelRequested = false

    func set(_ id: CurlMultiLoop.TransferID, cancelled: Bool, loop: CurlMultiLoop) {
        lock.lock()
        self.id = id
        let cancelNow = cancelRequested || cancelled
        lock.unlock()
        if cancelNow { loop.cancel(id) }
    }

    func cancel(loop: CurlMultiLoop) {
        lock.lock()
        cancelRequested = true
        let id = self.id
        lock.unlock()
        if let id { loop.cancel(id) }
    }
}

/// The outcomes of a chain as they arrive on the curl thread; the last one calls `whenComplete`.
///
/// `@unchecked Sendable`: every field is guarded by `lock`.
private final class ChainResults: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [Result<(CurlOutcome, FileStat?), StoreError>?]
    private var remaining: Int
    var whenComplete: (@Sendable () -> Void)?

    init(count: Int) {
        entries = Array(repeating: nil, count: count)
        remaining = count
    }

    func set(_ index: Int, outcome: CurlOutcome, checked: FileStat?) { store(index, .success((outcome, checked))) }

    private func store(_ index: Int, _ entry: Result<(CurlOutcome, FileStat?), StoreError>) {
        let done = lock.withLock { () -> (@Sendable () -> Void)? in
            entries[index] = entry
            remaining -= 1
            return remaining == 0 ? whenComplete : nil
        }
        done?()
    }

    func take() -> [Result<(CurlOutcome, FileStat?), StoreError>] {
        lock.withLock { entries.map { $0 ?? .failure(StoreError(.cancelled, message: "cancelled")) } }
    }
}

/// Ties a task's cancellation to the ids of a chain once the loop has them.
///
/// `@unchecked Sendable`: both fields are guarded by `lock`.
private final class ChainIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [CurlMultiLoop.TransferID] = []
    private var cancelRequested = false

    func set(_ ids: [CurlMultiLoop.TransferID], cancelled: Bool, loop: CurlMultiLoop) {
        let cancelNow = lock.withLock {
            self.ids = ids
            return cancelRequested || cancelled
        }
        if cancelNow { ids.forEach(loop.cancel) }
    }

    func cancel(loop: CurlMultiLoop) {
        let ids = lock.withLock {
            cancelRequested = true
            return self.ids
        }
        ids.forEach(loop.cancel)
    }
}

