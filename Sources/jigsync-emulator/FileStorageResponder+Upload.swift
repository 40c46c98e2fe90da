import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension FileStorageResponder {
    /// Keys longer than this (in UTF-8 bytes) are refused; the documentation names no limit.
    static let maxKeyBytes = 1024

    /// `POST /v1/store/file`: a raw body with options in the query, or a multipart form.
    func upload(_ request: Request, query: QueryString, context: Context) async throws -> Response {
        if let declared = request.headers[.contentLength].flatMap({ Int64($0) }), declared > settings.maxBytes {
            return tooLarge()
        }
        let spool = try SpoolFile(path: store.incomingPath())
        do {
            for try await chunk in request.body {
                try chunk.withUnsafeReadableBytes { try spool.append($0) }
                if spool.size > settings.maxBytes {
                    spool.discard()
                    return tooLarge()
                }
            }
        } catch {
            spool.discard()   // cut off: nothing of it is kept
            throw error
        }
        var bodySHA = spool.finish()

        var options = UploadOptions(query: query)
        var bodyPath = spool.path
        var size = spool.size
        let requestType = request.headers[.contentType]
        var partType: String?
        var bodyHead: Data? = spool.head   // nil once the body is a multipart form's file part
        if let requestType, requestType.lowercased().hasPrefix("multipart/form-data") {
            guard let boundary = MultipartForm.boundary(of: requestType) else {
                unlink(spool.path)
                return Self.error(.badRequest, "multipart body without a boundary", "invalid_body")
            }
            let filePath = store.incomingPath()
            do {
                let form = try MultipartForm.parse(spoolPath: spool.path, boundary: boundary, filePath: filePath)
                unlink(spool.path)
                if let body = form.body { options.merge(json: body) }
                partType = form.fileContentType
                bodyPath = filePath
                bodyHead = nil
                (size, bodySHA) = try SpoolFile.digest(ofFileAt: filePath)
            } catch {
                unlink(spool.path)
                unlink(filePath)
                return Self.error(.badRequest, "invalid multipart body: \(error)", "invalid_body")
            }
            if size > settings.maxBytes {
                unlink(bodyPath)
                return tooLarge()
            }
        }

        let key = options.key ?? Self.randomKey()
        if let problem = Self.keyProblem(key) {
            unlink(bodyPath)
            return Self.error(.badRequest, "Invalid key: \(problem)", "invalid_key")
        }
        let declaredType = options.contentType ?? partType ?? (options.isMultipart ? nil : requestType)
        let contentType = bodyHead.map { ContentSniffer.type(declared: declaredType, head: $0) }
            ?? ContentSniffer.type(declared: declaredType, fileAt: bodyPath)
        switch try await store.commit(key: key, bodyPath: bodyPath, size: size, sha256: bodySHA,
                                      contentType: contentType, overwrite: options.overwrite) {
        case .exists:
            return Self.error(.badRequest, "File already exists. Set overwrite to true to replace it.", "file_exists")
        case .stored(let object):
            let base = "http://\(request.head.authority ?? "127.0.0.1")"
            let url = base + Self.readPrefix + KeyPath.encode(object.key)
            // Fields in sorted order, as the answers have always been written.
            var answer = JSONText(escapingSlashes: false)
            answer.field("key", object.key)
            answer.field("size", object.size)
            if options.temporaryPublicURL {
                let token = await temporaryURLs.issue(for: object.key, seconds: settings.temporaryURLSeconds)
                answer.field("temp_public_url", url + "?temp_token=" + token)
            }
            answer.field("url", url)
            return Self.jsonResponse(.ok, answer.data)
        }
    }

    private func tooLarge() -> Response {
        Self.error(.contentTooLarge, "File exceeds the maximum size of \(settings.maxBytes) bytes", "file_too_large")
    }

    /// Why a key is refused, or nil: empty, too long, or holding control characters.
    static func keyProblem(_ key: String) -> String? {
        if key.isEmpty { return "empty" }
        if key.utf8.count > maxKeyBytes { return "longer than \(maxKeyBytes) bytes" }
        if key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "contains control characters" }
        return nil
    }

    /// A random URL-safe key, as the service picks when none is given.
    static func randomKey() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<24).map { _ in alphabet.randomElement()! })
    }
}

/// Upload options from the query string, overridden by a multipart `body` part.
struct UploadOptions {
    var key: String?
    var overwrite: Bool
    var contentType: String?
    var temporaryPublicURL: Bool
    var isMultipart = false

    init(query: QueryString) {
        key = query["key"].flatMap { $0.isEmpty ? nil : $0 }
        overwrite = query.flag("overwrite")
        contentType = query["content_type"].flatMap { $0.isEmpty ? nil : $0 }
        temporaryPublicURL = query.flag("temp_public_url")
    }

    mutating func merge(json: Data) {
        isMultipart = true
        guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else { return }
        if let key = object["key"] as? String, !key.isEmpty { self.key = key }
        if let overwrite = object["overwrite"] as? Bool { self.overwrite = overwrite }
        if let type = object["content_type"] as? String, !type.isEmpty { contentType = type }
        if let temporary = object["temp_public_url"] as? Bool { temporaryPublicURL = temporary }
    }
}

/// Percent-encodes a key for a URL path, keeping `/`.
enum KeyPath {
    /// ASCII letters and digits, `-._~` and `/` stay; every other UTF-8 byte becomes `%XX`
    /// (uppercase, as `addingPercentEncoding` writes it, which cost more than the upload's hash).
    static func encode(_ key: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(key.utf8.count)
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(upperHex[Int(byte >> 4)])
                out.append(upperHex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let upperHex = Array("0123456789ABCDEF".utf8)
}
