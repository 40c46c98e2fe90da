import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `POST /v1/vocr` and `POST /v1/ai/transcribe` with `{"file_store_key": KEY, ...}`: so that an
/// action calling JigsawStack's other APIs on a stored file runs offline. The emulator reads no
/// image and hears no audio: for a stored key it answers a fixed stand-in in the shape of the real
/// answer (the fields the official SDKs type), naming the key and its size so a caller can tell
/// which file it was about; for an unknown key, the API's error shape (`message`, `error`).
extension FileStorageResponder {
    static let vocrPath = "/v1/vocr"
    static let transcribePath = "/v1/ai/transcribe"
    /// Larger request bodies are refused: these endpoints take JSON, not files.
    static let maximumJSONBody = 1 << 20

    func answerAI(_ request: Request, path: String) async throws -> Response {
        guard request.method == .post else { return Self.error(.methodNotAllowed, "Method not allowed", "method_not_allowed") }
        var body = ByteBuffer()
        for try await var chunk in request.body {
            guard body.readableBytes + chunk.readableBytes <= Self.maximumJSONBody else {
                return Self.error(.contentTooLarge, "Request body too large", "invalid_request")
            }
            body.writeBuffer(&chunk)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            return Self.error(.badRequest, "Request body must be a JSON object", "invalid_request")
        }
        guard let key = object["file_store_key"] as? String, !key.isEmpty else {
            if object["url"] != nil {
                return Self.error(.badRequest, "The emulator cannot fetch URLs; upload the file and pass its file_store_key", "invalid_request")
            }
            return Self.error(.badRequest, "Either url or file_store_key is required", "invalid_request")
        }
        guard let stored = await store.object(for: key) else {
            return Self.error(.notFound, "File not found for file_store_key: \(key)", "not_found")
        }
        let standIn = "jigsync-emulator stand-in for \(key) (\(stored.size) bytes, sha256 \(stored.sha256))"
        if path == Self.vocrPath {
            let prompt = object["prompt"]
            guard prompt is String || prompt is [String] else {
                return Self.error(.badRequest, "prompt is required (a string or a list of strings)", "invalid_request")
            }
            let corner: [String: Int] = ["x": 0, "y": 0]
            let bounds: [String: Any] = ["top_left": corner, "top_right": corner, "bottom_left": corner, "bottom_right": corner]
            return Self.json([
                "success": true,
                "context": standIn,
                "width": 0, "height": 0,
                "tags": ["emulator"],
                "has_text": true,
                "sections": [["text": standIn, "lines": [["text": standIn, "bounds": bounds, "words": [] as [Any]]]]],
            ])
        }
        return Self.json([
            "success": true,
            "text": standIn,
            "chunks": [["timestamp": [0, 0], "text": standIn]],
        ])
    }
}
