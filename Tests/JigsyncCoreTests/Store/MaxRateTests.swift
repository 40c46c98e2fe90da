import Foundation
import Testing
@testable import JigsyncCore

/// The upload bandwidth cap: how rates are written, the bucket's arithmetic, and capped uploads
/// that still arrive whole. (Its accuracy is measured by scripts/measure-max-rate, not timed here.)
@Suite("bandwidth cap")
struct MaxRateTests {
    @Test("rates as people write them")
    func parsing() {
        #expect(RateParser.parse("5MB/s") == 5_000_000)
        #expect(RateParser.parse("500KB/s") == 500_000)
        #expect(RateParser.parse("2MiB/s") == 2_097_152)
        #expect(RateParser.parse("1.5M") == 1_500_000)
        #expect(RateParser.parse("800000") == 800_000)
        #expect(RateParser.parse("0") == 0)
        #expect(RateParser.parse("fast") == nil)
        #expect(RateParser.parse("5 parsecs") == nil)
        #expect(RateParser.parse("-1MB/s") == nil)
    }

    @Test("the bucket grants shares, refuses when empty, and refills at the rate")
    func bucket() {
        let start = ContinuousClock.now
        let budget = SendBudget(bytesPerSecond: 1_000_000, now: start)   // a 100 KB bucket, 16 KiB chunks
        #expect(budget.grant(65536, sharing: 1, now: start) == 16384)    // starts with one chunk
        #expect(budget.grant(65536, sharing: 1, now: start) == 0)
        #expect(budget.waitForChunk(now: start) > .zero)
        let later = start + .milliseconds(100)                            // 100 KB more, capped at the bucket
        #expect(budget.grant(200_000, sharing: 1, now: later) == 100_000)
        let full = later + .seconds(1)
        #expect(budget.grant(200_000, sharing: 4, now: full) == 25_000)   // an equal share of the bucket
        #expect(budget.waitForChunk(now: full) == .zero)
    }

    @Test("capped uploads of several files at once complete with the right bytes")
    func cappedSync() async throws {
        let emulator = try EmulatorProcess()
        let root = TemporaryDirectory.make(prefix: "rate")
        let tree = root.appending(path: "tree")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        var hashes: [String: String] = [:]
        for i in 0..<3 { hashes["f\(i).bin"] = try TestFiles.make(size: 200_000 + i * 1000, in: tree, name: "f\(i).bin", seed: UInt64(i)).sha256 }
        let run = try ProcessRun.run(Products.jigsync, ["sync", "--folder", tree.path, "--ledger", root.appending(path: "l.db").path,
                                                        "--workers", "3", "--max-rate", "2MB/s"], environment: emulator.clientEnvironment)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let stored = try await emulator.listing()
        for (name, hash) in hashes { #expect(stored[name]?.sha256 == hash, "\(name)") }
    }

    @Test("a rate that is not one is refused, on the command line and in the file")
    func refused() throws {
        let root = TemporaryDirectory.make(prefix: "rate")
        let flag = try ProcessRun.run(Products.jigsync, ["sync", "--folder", root.path, "--max-rate", "fast"])
        #expect(flag.status == 2)
        #expect(flag.stderr.contains("--max-rate"))
        let config = root.appending(path: "c.yaml").path
        try "folders:\n  - path: \(root.path)\nupload:\n  max_rate: 5 parsecs\n".write(toFile: config, atomically: true, encoding: .utf8)
        let check = try ProcessRun.run(Products.jigsync, ["check", "--config", config])
        #expect(check.status == 2)
        #expect((check.stdout + check.stderr).contains("upload.max_rate"))
        try "folders:\n  - path: \(root.path)\nupload:\n  max_rate: 0\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try ProcessRun.run(Products.jigsync, ["check", "--config", config]).status == 0)
    }
}
