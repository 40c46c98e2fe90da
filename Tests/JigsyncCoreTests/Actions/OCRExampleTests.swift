import Foundation
import Testing

/// The worked example `examples/ocr-scan` against the emulator's vOCR stand-in, end to end.
@Suite("examples/ocr-scan: a scan dropped, its text beside it", .serialized)
struct OCRExampleTests {
    static var script: URL { Products.packageRoot.appending(path: "examples/ocr-scan") }

    @Test("a dropped scan is stored, vOCR is asked with its file_store_key, NAME.ocr.json lands beside it and is not synced")
    func endToEnd() async throws {
        let h = try DaemonHarness()
        let config = h.root.appending(path: "config.yaml")
        try Data("""
            folders:
              - path: \(h.tree.path)
                prefix: scans
                exclude: ["*.ocr.json"]
                on_upload: [\(Self.script.path)]
            actions: {workers: 2, timeout: 1m, retries: 2}
            """.utf8).write(to: config)
        try h.start([], folders: ["--config", config.path])
        let scan = try TestFiles.make(size: 5000, in: h.tree, name: "invoice.png", seed: 7)
        let output = h.tree.appending(path: "invoice.png.ocr.json")
        try await waitUntil { FileManager.default.fileExists(atPath: output.path) }
        let stored = try #require(try await h.emulator.listing()["scans/invoice.png"])
        #expect(stored.sha256 == scan.sha256)
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
        #expect(answer["success"] as? Bool == true)
        let text = ((answer["sections"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
        #expect(text.contains("scans/invoice.png (5000 bytes, sha256 \(scan.sha256))"))
        // Its own output stays local: excluded by the pattern, never uploaded, no action for it.
        try await waitUntil {
            let run = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--json", "--all"], environment: h.emulator.clientEnvironment)
            let files = (try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])?["files"] as? [[String: Any]] ?? []
            return files.contains { ($0["path"] as? String)?.hasSuffix("invoice.png.ocr.json") == true && $0["state"] as? String == "excluded" }
        }
        #expect(h.stop() == 0)
        #expect(try await h.emulator.listing().keys.sorted() == ["scans/invoice.png"])
        #expect(h.logText.contains("action scans/invoice.png: ocr-scan: scans/invoice.png: 1 section(s) -> invoice.png.ocr.json"))
    }

    @Test("an unknown file_store_key: the emulator answers the API's error shape and the example exits 1 with its message")
    func unknownKey() throws {
        let emulator = try EmulatorProcess()
        let directory = TemporaryDirectory.make(prefix: "ocr")
        var environment = emulator.clientEnvironment
        environment["JIGSYNC_EVENT"] = "uploaded"
        environment["JIGSYNC_KEY"] = "never/stored.png"
        environment["JIGSYNC_PATH"] = directory.appending(path: "stored.png").path
        let run = try ProcessRun.run(Self.script, [], environment: environment)
        #expect(run.status == 1)
        #expect(run.stderr.contains("HTTP 404: File not found for file_store_key: never/stored.png"))
        #expect(!FileManager.default.fileExists(atPath: directory.appending(path: "stored.png.ocr.json").path))

        let curl = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/curl"), [
            "-s", "-w", "\n%{http_code}", "-H", "x-api-key: \(EmulatorProcess.apiKey)", "-H", "content-type: application/json",
            "--data", #"{"file_store_key": "missing.wav"}"#, emulator.baseURL + "/v1/ai/transcribe"])
        let lines = curl.stdout.split(separator: "\n")
        #expect(lines.last == "404")
        let error = try JSONSerialization.jsonObject(with: Data(lines.first.map(String.init)?.utf8 ?? "".utf8)) as? [String: String]
        #expect(error?["error"] == "not_found")
        #expect(error?["message"] == "File not found for file_store_key: missing.wav")
    }

    @Test("the transcribe stand-in names a stored key; a request without the secret key is refused")
    func transcribe() throws {
        let emulator = try EmulatorProcess()
        let directory = TemporaryDirectory.make(prefix: "transcribe")
        let file = directory.appending(path: "memo.wav")
        try Data("RIFF....WAVE".utf8).write(to: file)
        let put = try ProcessRun.run(Products.jigsync, ["put", file.path, "--key", "memo.wav"], environment: emulator.clientEnvironment)
        #expect(put.status == 0)
        let answer = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/curl"), [
            "-s", "-H", "x-api-key: \(EmulatorProcess.apiKey)", "-H", "content-type: application/json",
            "--data", #"{"file_store_key": "memo.wav"}"#, emulator.baseURL + "/v1/ai/transcribe"])
        let object = try JSONSerialization.jsonObject(with: Data(answer.stdout.utf8)) as? [String: Any]
        #expect(object?["success"] as? Bool == true)
        #expect((object?["text"] as? String)?.contains("memo.wav (12 bytes") == true)
        let refused = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/curl"), [
            "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data", #"{"file_store_key": "memo.wav"}"#, emulator.baseURL + "/v1/vocr"])
        #expect(refused.stdout == "401")
    }
}
