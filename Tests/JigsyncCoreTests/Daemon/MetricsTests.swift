import Foundation
import Testing

/// `metrics.listen`: the Prometheus endpoint, read by the reference parser (`prometheus_client`).
@Suite("jigsync run: Prometheus metrics", .serialized)
struct MetricsTests {
    /// Scrapes `url` with prometheus_client's text parser and prints `name{labels} value` per sample.
    static let parser = """
        import sys, urllib.request
        from prometheus_client.parser import text_string_to_metric_families
        text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                print(f"{s.name}{{{labels}}} {s.value}")
        """

    static func scrape(_ url: String) throws -> [String: Double] {
        let python = PeerTests.peerPython
        try #require(FileManager.default.isExecutableFile(atPath: python.path),
                     "no venv at \(python.path): run `make test-deps` (it installs prometheus_client)")
        let run = try ProcessRun.run(python, ["-c", parser, url])
        #expect(run.status == 0, "\(run.stderr)")
        var samples: [String: Double] = [:]
        for line in run.stdout.split(separator: "\n") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test("a scrape after N uploads shows N uploads, their bytes, the latency histogram's N, the rows and the last upload time")
    func afterUploads() async throws {
        let h = try DaemonHarness()
        let url = try h.startWithMetrics()
        let before = Date().timeIntervalSince1970
        let n = 7
        var bytes = 0
        for i in 0..<n {
            let content = "file \(i) " + String(repeating: "y", count: i * 10)
            bytes += content.utf8.count
            try h.write("f\(i).txt", content)
        }
        try await waitUntil { try await h.emulator.listing().count == n }
        try await waitUntil { try Self.scrape(url)["jigsync_uploads_total{result=uploaded}"] == Double(n) }
        let samples = try Self.scrape(url)
        #expect(samples["jigsync_upload_bytes_total{}"] == Double(bytes))
        #expect(samples["jigsync_close_to_stored_seconds_count{}"] == Double(n))
        #expect(samples["jigsync_ledger_rows{state=uploaded}"] == Double(n))
        #expect(samples["jigsync_files_due{}"] == 0)
        #expect(samples["jigsync_uploads_in_flight{}"] == 0)
        #expect(samples["jigsync_watches{}"] == 1)
        #expect((samples["jigsync_last_upload_timestamp_seconds{}"] ?? 0) >= before.rounded(.down))
        #expect(samples["jigsync_uploads_total{result=failed}"] ?? 0 == 0)
        #expect(h.stop() == 0)
    }

    @Test("metrics are off by default, and a bad address is refused with the form to use")
    func offAndRefused() throws {
        let h = try DaemonHarness()
        let bad = try ProcessRun.run(Products.jigsync, ["run", "--folder", h.tree.path, "--ledger", h.ledger, "--metrics-listen", "9464"],
                                     environment: h.emulator.clientEnvironment)
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("is not IPV4:PORT"))
        try h.start()
        #expect(!h.logText.contains("metrics on"))
        #expect(h.stop() == 0)
    }
}
