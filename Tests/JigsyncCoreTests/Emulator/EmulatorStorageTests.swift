import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// What the emulator writes for an upload: its answer and its metadata file, byte for byte as
/// Foundation's serializers wrote them before they were replaced by a hand-written writer, and
/// the on-disk layout a restart (and the scripts that count `objects/*.json`) reads back.
@Suite("emulator storage and answers")
struct EmulatorStorageTests {
    /// Keys and content types that need every kind of escape JSON has (control characters are
    /// refused in keys, so a tab only ever reaches a content type).
    static let awkwardKey = #"dir/sub "quoted" back\slash é☃😀 100%"#
    static let awkwardType = "text/x-\"odd\"\\type\tv=1"

    func upload(_ emulator: EmulatorProcess, key: String, contentType: String, body: Data, extra: String = "") async throws -> (Data, HTTPURLResponse) {
        var components = URLComponents(string: emulator.baseURL + "/v1/store/file")!
        components.queryItems = [URLQueryItem(name: "key", value: key), URLQueryItem(name: "overwrite", value: "true")]
        var request = URLRequest(url: URL(string: components.url!.absoluteString + extra)!)
        request.httpMethod = "POST"
        request.setValue(EmulatorProcess.apiKey, forHTTPHeaderField: "x-api-key")
        request.setValue(contentType, forHTTPHeaderField: "content-type")
        let (data, response) = try await URLSession.shared.upload(for: request, from: body)
        return (data, try #require(response as? HTTPURLResponse))
    }

    static func foundationAnswer(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    static func hex(_ digest: SHA256.Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    @Test("an upload's answer is the bytes JSONSerialization writes; its metadata file decodes to what was stored, and a restart reads it back")
    func uploadAnswerAndMetadata() async throws {
        let data = TemporaryDirectory.make(prefix: "emulator-storage")
        let body = Data("hello \"json\" world\n".utf8)
        var emulator: EmulatorProcess? = try EmulatorProcess(dataDirectory: data)
        let baseURL = try #require(emulator?.baseURL)

        let (first, response) = try await upload(emulator!, key: Self.awkwardKey, contentType: Self.awkwardType.replacingOccurrences(of: "\t", with: " "), body: body)
        #expect(response.statusCode == 200)
        let url = baseURL + "/v1/store/file/read/" + Self.awkwardKey.addingPercentEncoding(withAllowedCharacters: {
            var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
            allowed.insert(charactersIn: "-._~/")
            return allowed
        }())!
        #expect(first == (try Self.foundationAnswer(["key": Self.awkwardKey, "size": Int64(body.count), "url": url])),
                "\(String(decoding: first, as: UTF8.self))")
        #expect(response.value(forHTTPHeaderField: "content-type") == "application/json")
        #expect(response.value(forHTTPHeaderField: "x-jigsaw-rate-limit-limit") == "50")

        // A second write with a temporary URL: the answer gains the field in its sorted place.
        let (second, _) = try await upload(emulator!, key: Self.awkwardKey, contentType: "application/x-test", body: body, extra: "&temp_public_url=true")
        let object = try #require(try JSONSerialization.jsonObject(with: second) as? [String: Any])
        let temporary = try #require(object["temp_public_url"] as? String)
        #expect(temporary.hasPrefix(url + "?temp_token="))
        #expect(second == (try Self.foundationAnswer(["key": Self.awkwardKey, "size": Int64(body.count), "url": url, "temp_public_url": temporary])))

        // The metadata file beside the blob, as the loader (and any script) reads it.
        let digest = Self.hex(SHA256.hash(data: Data(Self.awkwardKey.utf8)))
        let objects = data.appending(path: "objects")
        #expect(try FileManager.default.contentsOfDirectory(atPath: objects.path).sorted() == [digest, digest + ".json"])
        #expect(try Data(contentsOf: objects.appending(path: digest)) == body)
        let metadata = try Data(contentsOf: objects.appending(path: digest + ".json"))
        let fields = try #require(try JSONSerialization.jsonObject(with: metadata) as? [String: Any])
        #expect(Set(fields.keys) == ["key", "size", "sha256", "content_type", "writes", "updated_at"])
        #expect(fields["key"] as? String == Self.awkwardKey)
        #expect(fields["size"] as? Int == body.count)
        #expect(fields["sha256"] as? String == Self.hex(SHA256.hash(data: body)))
        #expect(fields["content_type"] as? String == "application/x-test")
        #expect(fields["writes"] as? Int == 2)
        let stamp = try #require(fields["updated_at"] as? String)
        let parsed = try #require(ISO8601DateFormatter().date(from: stamp), "updated_at \(stamp) is not ISO 8601")
        #expect(abs(parsed.timeIntervalSinceNow) < 600)

        // A restart on the same directory lists the object as it was.
        emulator?.stop()
        emulator = nil
        let restarted = try EmulatorProcess(dataDirectory: data)
        let stored = try #require(try await restarted.listing()[Self.awkwardKey])
        #expect(stored.sha256 == Self.hex(SHA256.hash(data: body)))
        #expect(stored.writes == 2)
        #expect(stored.content_type == "application/x-test")
    }

    @Test("a content type with a tab and quotes survives its metadata file and a restart")
    func escapedContentType() async throws {
        let data = TemporaryDirectory.make(prefix: "emulator-type")
        let emulator = try EmulatorProcess(dataDirectory: data)
        var components = URLComponents(string: emulator.baseURL + "/v1/store/file")!
        components.queryItems = [URLQueryItem(name: "key", value: "typed"), URLQueryItem(name: "content_type", value: Self.awkwardType)]
        var request = URLRequest(url: components.url!)
        request.httpMethod = "POST"
        request.setValue(EmulatorProcess.apiKey, forHTTPHeaderField: "x-api-key")
        let (_, response) = try await URLSession.shared.upload(for: request, from: Data("x".utf8))
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(try await emulator.listing()["typed"]?.content_type == Self.awkwardType)
        emulator.stop()
        let restarted = try EmulatorProcess(dataDirectory: data)
        #expect(try await restarted.listing()["typed"]?.content_type == Self.awkwardType)
    }

    @Test("an undeclared or generic content type is detected from the body's first 512 bytes")
    func detectedContentTypes() async throws {
        let emulator = try EmulatorProcess()
        // 511 ASCII bytes then a two-byte character: the first 512 bytes end inside it.
        let splitCharacter = Data(String(repeating: "a", count: 511).utf8) + Data("é and more text".utf8)
        let cases: [(String, Data, String)] = [
            ("png", Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]), "image/png"),
            ("text", Data(String(repeating: "plain words ", count: 100).utf8), "text/plain"),
            ("binary", Data([0x41, 0x00, 0x42]), "application/octet-stream"),
            ("split", splitCharacter, "application/octet-stream"),
            ("empty", Data(), "application/octet-stream"),
        ]
        for (key, body, _) in cases {
            let (_, response) = try await upload(emulator, key: key, contentType: "application/octet-stream", body: body)
            #expect(response.statusCode == 200)
        }
        let listing = try await emulator.listing()
        for (key, _, expected) in cases {
            #expect(listing[key]?.content_type == expected, "\(key)")
        }
    }

    @Test("error and delete answers are the bytes JSONSerialization writes")
    func errorAndDeleteAnswers() async throws {
        let emulator = try EmulatorProcess()
        var request = URLRequest(url: URL(string: emulator.baseURL + "/v1/store/file/read/missing")!)
        request.setValue(EmulatorProcess.apiKey, forHTTPHeaderField: "x-api-key")
        let (missing, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 404)
        #expect(missing == (try Self.foundationAnswer(["error": "not_found", "message": "File not found"])))

        _ = try await upload(emulator, key: "gone/soon", contentType: "text/plain", body: Data("x".utf8))
        request = URLRequest(url: URL(string: emulator.baseURL + "/v1/store/file/read/gone/soon")!)
        request.httpMethod = "DELETE"
        request.setValue(EmulatorProcess.apiKey, forHTTPHeaderField: "x-api-key")
        let (deleted, _) = try await URLSession.shared.data(for: request)
        #expect(deleted == (try Self.foundationAnswer(["success": true])))
        #expect(try await emulator.listing().isEmpty)
    }
}
