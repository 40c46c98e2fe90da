import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Answers the File Storage API (`/v1/store/file…`) and the test inspection endpoint.
///
/// Paths are parsed here rather than by a router so the Python SDK's `//v1/...` (a base URL with
/// a trailing slash) and keys holding `/` are taken as they come.
struct FileStorageResponder: HTTPResponder {
    typealias Context = EmulatorContext

    let store: ObjectStore
    let settings: EmulatorSettings
    let faults: FaultPlan
    let temporaryURLs: TemporaryURLs
    let headerLog = RequestHeaderLog()

    static let readPrefix = "/v1/store/file/read/"

    func respond(to request: Request, context: Context) async throws -> Response {
        var path = request.uri.path
        while path.hasPrefix("//") { path.removeFirst() }
        if path == "/_emulator/files" && request.method == .get {
            return try await listing()
        }
        if path == "/_emulator/headers" && request.method == .get {
            guard let key = QueryString(request.uri.query)["key"] else { return Self.error(.badRequest, "name a key: ?key=KEY", "invalid_query") }
            guard let headers = headerLog.headers(for: key) else { return Self.error(.notFound, "no request named this key", "not_found") }
            return Self.json(["key": key, "headers": headers])
        }
        if path == "/_emulator/faults" && request.method == .get {
            return try Self.jsonResponse(.ok, JSONSerialization.data(withJSONObject: faults.injectedCounts(), options: [.sortedKeys]))
        }
        let window = faults.admit(nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        var response = try await answer(request, path: path, context: context, rateLimited: !window.allowed)
        response.headers[.rateLimitLimit] = String(window.limit)
        response.headers[.rateLimitRemaining] = String(window.remaining)
        response.headers[.rateLimitReset] = String(window.resetMilliseconds)
        return response
    }

    private func answer(_ request: Request, path: String, context: Context, rateLimited: Bool) async throws -> Response {
        let query = QueryString(request.uri.query)
        let key: String?
        if path == "/v1/store/file" || path == "/v1/store/file/" {
            guard request.method == .post else { return Self.error(.methodNotAllowed, "Method not allowed", "method_not_allowed") }
            key = nil
            if let named = query["key"] { recordHeaders(of: request, key: named) }
        } else if path.hasPrefix(Self.readPrefix) {
            guard request.method == .get || request.method == .delete else {
                return Self.error(.methodNotAllowed, "Method not allowed", "method_not_allowed")
            }
            key = QueryString.percentDecode(String(path.dropFirst(Self.readPrefix.count)), plusIsSpace: false)
            recordHeaders(of: request, key: key!)
        } else if path == Self.vocrPath || path == Self.transcribePath {
            guard request.headers[.apiKey] == settings.apiKey else {
                return Self.error(.unauthorized, "Invalid or missing API key", "unauthorized")
            }
            return rateLimited ? Self.error(.tooManyRequests, "Rate limit exceeded", "rate_limit_exceeded")
                : try await answerAI(request, path: path)
        } else {
            return Self.error(.notFound, "Route not found", "not_found")
        }

        guard await authorized(request, query: query, key: key) else {
            return Self.error(.unauthorized, "Invalid or missing API key", "unauthorized")
        }
        if settings.latencyMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(settings.latencyMilliseconds))
        }
        if rateLimited {
            return Self.error(.tooManyRequests, "Rate limit exceeded", "rate_limit_exceeded")
        }
        switch faults.draw() {
        case .fail?:
            return Self.error(.internalServerError, "Injected failure", "internal_error")
        case .throttle(let retryAfter)?:
            var response = Self.error(.tooManyRequests, "Rate limit exceeded", "rate_limit_exceeded")
            if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
            return response
        case .reset?:
            return try await cutConnection(request, context: context)
        case nil:
            break
        }

        switch (request.method, key) {
        case (.post, _):
            return try await upload(request, query: query, context: context)
        case (.get, let key?):
            return try await read(key)
        case (.delete, let key?):
            guard await store.delete(key) else { return Self.error(.notFound, "File not found", "not_found") }
            var answer = JSONText(escapingSlashes: false)
            answer.field("success", true)
            return Self.jsonResponse(.ok, answer.data)
        default:
            return Self.error(.methodNotAllowed, "Method not allowed", "method_not_allowed")
        }
    }

    private func recordHeaders(of request: Request, key: String) {
        headerLog.record(key: key, headers: request.headers)
    }

    /// The secret key in `x-api-key`; for reads also the public key or a temporary token in the query.
    private func authorized(_ request: Request, query: QueryString, key: String?) async -> Bool {
        if request.headers[.apiKey] == settings.apiKey { return true }
        guard request.method == .get, let key else { return false }
        if query["x-api-key"] == settings.publicKey { return true }
        if let token = query["temp_token"] { return await temporaryURLs.allows(token: token, key: key) }
        return false
    }

    /// Reads part of the body, then closes the connection without an answer (`--reset-rate`).
    private func cutConnection(_ request: Request, context: Context) async throws -> Response {
        var iterator = request.body.makeAsyncIterator()
        _ = try? await iterator.next()
        try? await context.channel.close()
        throw EmulatorError("connection reset by fault injection")
    }

    private func read(_ key: String) async throws -> Response {
        guard let object = await store.object(for: key) else {
            return Self.error(.notFound, "File not found", "not_found")
        }
        let path = store.blobPath(for: key)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return Self.error(.notFound, "File not found", "not_found")
        }
        var headers = HTTPFields()
        headers[.contentType] = object.contentType
        let body = ResponseBody(contentLength: Int(object.size)) { writer in
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 256 * 1024), !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    private func listing() async throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        struct Listing: Encodable { var files: [StoredObject] }
        let data = try encoder.encode(Listing(files: await store.listing()))
        return Self.jsonResponse(.ok, data)
    }

    // MARK: answers

    /// Answers written on every request (an upload's, an error's) use `JSONText`, which writes
    /// the same bytes as this without its dynamic casts; this serves the rarer, nested ones.
    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return jsonResponse(status, data)
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, _ code: String) -> Response {
        var answer = JSONText(escapingSlashes: false)
        answer.field("error", code)
        answer.field("message", message)
        return jsonResponse(status, answer.data)
    }

    static func jsonResponse(_ status: HTTPResponse.Status, _ data: Data) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Names built once: `HTTPField.Name(_:)` validates its text on every call.
extension HTTPField.Name {
    static let apiKey = HTTPField.Name("x-api-key")!
    static let rateLimitLimit = HTTPField.Name("x-jigsaw-rate-limit-limit")!
    static let rateLimitRemaining = HTTPField.Name("x-jigsaw-rate-limit-remaining")!
    static let rateLimitReset = HTTPField.Name("x-jigsaw-rate-limit-reset")!
}
