import Foundation
import Testing

/// The emulator against clients nobody here wrote: the official Python SDK and curl's multipart form.
@Suite("Emulator against independent clients")
struct PeerTests {
    let scratch = TemporaryDirectory.make(prefix: "peers")

    /// The venv `make test-deps` builds with `jigsawstack==0.4.6`, or `$JIGSYNC_PEER_PYTHON`.
    static var peerPython: URL {
        if let path = ProcessInfo.processInfo.environment["JIGSYNC_PEER_PYTHON"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return Products.packageRoot.appending(path: ".build/peer-venv/bin/python")
    }

    @Test("the official Python SDK uploads (key, overwrite, content type, temp URL), gets and deletes")
    func pythonSDK() async throws {
        let python = Self.peerPython
        try #require(FileManager.default.isExecutableFile(atPath: python.path),
                     "no SDK venv at \(python.path): run `make test-deps` (the README's test command does)")
        let emulator = try EmulatorProcess()
        var environment = emulator.clientEnvironment
        // The SDK's own default has a trailing slash, which makes it request `//v1/...`: tolerate it.
        environment["JIGSAWSTACK_API_URL"] = emulator.baseURL + "/"
        let script = Products.packageRoot.appending(path: "Tests/peers/sdk_peer.py")
        let file = try TestFiles.make(size: 200_000, in: scratch)
        let key = "sdk/folder/report 1.bin"

        for round in 0..<2 {   // the second upload exercises overwrite=true
            let upload = try ProcessRun.run(python, [script.path, "upload", file.path, key, "image/x-test"], environment: environment)
            #expect(upload.status == 0, "\(upload.stderr)")
            let answer = try JSONSerialization.jsonObject(with: Data(upload.stdout.utf8)) as? [String: Any]
            #expect(answer?["key"] as? String == key)
            #expect((answer?["size"] as? Int) == 200_000)
            #expect((answer?["temp_public_url"] as? String)?.isEmpty == false)
            let stored = try #require(try await emulator.listing()[key])
            #expect(stored.sha256 == file.sha256)
            #expect(stored.content_type == "image/x-test")
            #expect(stored.writes == round + 1)
        }

        let out = scratch.appending(path: "back.bin").path
        let get = try ProcessRun.run(python, [script.path, "get", key, out], environment: environment)
        #expect(get.status == 0, "\(get.stderr)")
        #expect(try TestFiles.sha256(ofFileAt: out) == file.sha256)

        let delete = try ProcessRun.run(python, [script.path, "delete", key], environment: environment)
        #expect(delete.status == 0, "\(delete.stderr)")
        #expect(delete.stdout.contains("\"success\": true"))
        #expect(try await emulator.listing().isEmpty)
    }

    @Test("a multipart form sent with curl -F is stored with the options of its JSON body part")
    func curlMultipart() async throws {
        let emulator = try EmulatorProcess()
        let file = try TestFiles.make(size: 300_000, in: scratch)
        // The key goes in a header file, not on curl's command line.
        let headers = scratch.appending(path: "headers")
        try "x-api-key: \(EmulatorProcess.apiKey)\n".write(to: headers, atomically: true, encoding: .utf8)
        let body = #"{"key":"multi/part file.bin","overwrite":true,"content_type":"application/x-multi","temp_public_url":true}"#
        let curl = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/curl"), [
            "-sS", "-H", "@\(headers.path)", "-F", "file=@\(file.path)", "-F", "body=\(body)",
            emulator.baseURL + "/v1/store/file",
        ])
        #expect(curl.status == 0, "\(curl.stderr)")
        let answer = try JSONSerialization.jsonObject(with: Data(curl.stdout.utf8)) as? [String: Any]
        #expect(answer?["key"] as? String == "multi/part file.bin")
        #expect(answer?["temp_public_url"] is String)
        let stored = try #require(try await emulator.listing()["multi/part file.bin"])
        #expect(stored.sha256 == file.sha256)
        #expect(stored.size == 300_000)
        #expect(stored.content_type == "application/x-multi")

        // The temporary public URL reads the file without the secret key.
        let publicURL = try #require(answer?["temp_public_url"] as? String)
        let out = scratch.appending(path: "public.bin").path
        let fetch = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/curl"), ["-sS", "-f", "-o", out, publicURL])
        #expect(fetch.status == 0, "\(fetch.stderr)")
        #expect(try TestFiles.sha256(ofFileAt: out) == file.sha256)
    }

    @Test("reads need the secret header or the public key in the query; a stop and restart keeps the store")
    func authAndPersistence() async throws {
        let data = TemporaryDirectory.make(prefix: "persist")
        var emulator = try EmulatorProcess(dataDirectory: data)
        let file = try TestFiles.make(size: 1234, in: scratch)
        let headers = scratch.appending(path: "headers")
        try "x-api-key: \(EmulatorProcess.apiKey)\n".write(to: headers, atomically: true, encoding: .utf8)
        let curl = URL(fileURLWithPath: "/usr/bin/curl")
        let put = try ProcessRun.run(curl, ["-sS", "-f", "-H", "@\(headers.path)", "-H", "Content-Type: application/octet-stream",
                                            "--data-binary", "@\(file.path)", emulator.baseURL + "/v1/store/file?key=kept.bin"])
        #expect(put.status == 0, "\(put.stderr)")
        emulator.stop()
        emulator = try EmulatorProcess(dataDirectory: data)
        #expect(try await emulator.listing()["kept.bin"]?.sha256 == file.sha256)

        let url = emulator.baseURL + "/v1/store/file/read/kept.bin"
        let anonymous = try ProcessRun.run(curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code}", url])
        #expect(anonymous.stdout == "401")
        let wrongPublic = try ProcessRun.run(curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code}", url + "?x-api-key=nope"])
        #expect(wrongPublic.stdout == "401")
        let out = scratch.appending(path: "public.bin").path
        let publicRead = try ProcessRun.run(curl, ["-sS", "-f", "-o", out, url + "?x-api-key=\(EmulatorProcess.publicKey)"])
        #expect(publicRead.status == 0)
        #expect(try TestFiles.sha256(ofFileAt: out) == file.sha256)
    }
}
