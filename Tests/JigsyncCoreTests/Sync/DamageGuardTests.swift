import Foundation
import Glibc
import Testing
@testable import JigsyncCore

/// The damage guard: a burst of changes to stored files stops overwriting in their folder.
@Suite("damage guard")
struct DamageGuardTests {
    @Test("the window counts distinct files and forgets them once they are older than the window")
    func window() {
        var window = OverwriteWindow(window: .seconds(60))
        let start = ContinuousClock.now
        #expect(window.note(PathBytes("a"), at: start) == 1)
        #expect(window.note(PathBytes("a"), at: start + .seconds(1)) == 1)   // saved again: one change
        #expect(window.note(PathBytes("b"), at: start + .seconds(2)) == 2)
        #expect(window.note(PathBytes("c"), at: start + .seconds(61)) == 2)  // a is out of the window
        #expect(window.note(PathBytes("a"), at: start + .seconds(63)) == 2)  // b is out, a counts again
    }

    @Test("the count rule, the percent rule and its floor")
    func verdicts() {
        var settings = DamageGuardSettings()
        settings.maxOverwrites = 200
        settings.maxPercent = 25
        let guardian = DamageGuard(settings: settings)
        #expect(guardian.verdict(changed: 200, stored: nil) == nil)
        #expect(guardian.verdict(changed: 201, stored: nil) != nil)
        #expect(guardian.verdict(changed: 75, stored: 300) == nil)
        #expect(guardian.verdict(changed: 76, stored: 300) != nil)
        // A few files of a small folder: an edit session, whatever the share.
        #expect(guardian.verdict(changed: 3, stored: 4) == nil)
        #expect(guardian.verdict(changed: DamageGuardSettings.percentFloor, stored: 10) == nil)
        #expect(!guardian.needsStoredCount(changed: DamageGuardSettings.percentFloor))
        #expect(guardian.needsStoredCount(changed: DamageGuardSettings.percentFloor + 1))
    }

    @Test("300 files rewritten in a burst: at most the threshold overwritten, the rest held across a restart, released by resume --folder")
    func burst() async throws {
        let h = try DaemonHarness()
        try h.start()
        let count = 300
        for i in 0..<count { try h.write("f/\(i).txt", "original \(i)") }
        try await waitUntil(timeout: .seconds(120)) { try await h.emulator.listing().count == count }
        try await waitUntil { try h.summary()["uploaded"] == count }

        // The burst: every file rewritten, one in ten shrunk to nothing.
        func damaged(_ i: Int) -> String { i % 10 == 0 ? "" : "ENCRYPTED \(i) ENCRYPTED" }
        for i in 0..<count { try h.write("f/\(i).txt", damaged(i)) }
        // Settled: every file is either overwritten on the store or held in the ledger as pending.
        try await waitUntil(timeout: .seconds(60)) {
            let rewritten = try await h.emulator.listing().values.filter { $0.writes == 2 }.count
            let summary = try h.summary()
            return rewritten > 0 && rewritten + (summary["pending"] ?? 0) == count && summary["uploaded"] == count - (summary["pending"] ?? 0)
        }
        let overwritten = try await h.emulator.listing().values.filter { $0.writes == 2 }.count
        // 25 % of 300 stored files: at most 75 overwrites reach the store.
        #expect(overwritten <= 75)
        print("damage guard: \(overwritten) of \(count) overwrites reached the store before it tripped")
        try await waitUntil {
            let check = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"])
            return check.status == 2 && check.stdout.contains("damage guard") && check.stdout.contains(h.tree.path)
        }
        // New files still go up in the held folder.
        try h.write("f/new.txt", "brand new")
        try await h.waitStored("f/new.txt", "brand new")

        // A restart keeps holding: nothing more is overwritten.
        #expect(h.stop() == 0)
        try h.start()
        try await waitUntil { h.logText.components(separatedBy: "initial reconcile done").count == 3 }
        #expect(try await h.emulator.listing().values.filter { $0.writes == 2 }.count == overwritten)
        #expect(try h.summary()["pending"] == count - overwritten)

        // The operator lets them go: every damaged file is stored.
        let resume = try ProcessRun.run(Products.jigsync, ["resume", "--folder", h.tree.path, "--ledger", h.ledger])
        #expect(resume.status == 0, "\(resume.stderr)")
        try await waitUntil(timeout: .seconds(60)) {
            let listing = try await h.emulator.listing()
            return (0..<count).allSatisfy { listing["f/\($0).txt"]?.sha256 == TestFiles.hex(Data(damaged($0).utf8).sha256Digest) }
        }
        try await waitUntil {
            try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"]).status == 0
        }
        #expect(h.stop() == 0)
    }

    @Test("the count rule alone (percent at 100): 300 files rewritten, at most 200 overwritten")
    func countRule() async throws {
        let h = try DaemonHarness()
        try h.start(["--guard-max-percent", "100"])
        let count = 300
        for i in 0..<count { try h.write("\(i).txt", "original \(i)") }
        try await waitUntil(timeout: .seconds(120)) { try h.summary()["uploaded"] == count }
        for i in 0..<count { try h.write("\(i).txt", "rewritten \(i)") }
        try await waitUntil(timeout: .seconds(60)) {
            let rewritten = try await h.emulator.listing().values.filter { $0.writes == 2 }.count
            let summary = try h.summary()
            return rewritten > 0 && rewritten + (summary["pending"] ?? 0) == count && summary["uploaded"] == rewritten
        }
        let overwritten = try await h.emulator.listing().values.filter { $0.writes == 2 }.count
        #expect(overwritten <= 200)
        print("damage guard (count rule): \(overwritten) of \(count) overwrites reached the store before it tripped")
        #expect(h.stop() == 0)
    }

    @Test("a restart with --trust-changes lets held overwrites go")
    func trustChanges() async throws {
        let h = try DaemonHarness()
        try h.start(["--guard-max-overwrites", "5", "--guard-max-percent", "100"])
        for i in 0..<20 { try h.write("\(i).txt", "v1 \(i)") }
        try await waitUntil { try h.summary()["uploaded"] == 20 }
        for i in 0..<20 { try h.write("\(i).txt", "v2 \(i)") }
        try await waitUntil { try h.summary()["pending"] == 15 && h.summary()["uploaded"] == 5 }
        #expect(try await h.emulator.listing().values.filter { $0.writes == 2 }.count == 5)
        #expect(h.stop() == 0)
        try h.start(["--guard-max-overwrites", "5", "--guard-max-percent", "100", "--trust-changes"])
        try await waitUntil(timeout: .seconds(30)) {
            try await h.emulator.listing().values.filter { $0.writes == 2 }.count == 20
        }
        // From then on the guard counts again.
        for i in 0..<20 { try h.write("\(i).txt", "v3 \(i)") }
        try await waitUntil { try h.summary()["pending"] == 15 }
        #expect(try await h.emulator.listing().values.filter { $0.writes == 3 }.count == 5)
        #expect(h.stop() == 0)
    }

    @Test("a normal edit session (a few files saved several times) never trips it")
    func editSession() async throws {
        let h = try DaemonHarness()
        try h.start()
        for i in 0..<8 { try h.write("doc\(i).md", "draft \(i)") }
        try await waitUntil { try h.summary()["uploaded"] == 8 }
        for round in 0..<4 {
            for i in 0..<4 { try h.write("doc\(i).md", "draft \(i), edit \(round)") }
            for i in 0..<4 { try await h.waitStored("doc\(i).md", "draft \(i), edit \(round)") }
        }
        let check = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"])
        #expect(check.status == 0, "\(check.stdout)")
        #expect(!check.stdout.contains("damage guard"))
        #expect(h.stop() == 0)
    }
}

/// The guard in a one-shot `sync`: it holds there too, the hold lasts to the next sync, and
/// `--trust-changes` lets the changes go.
@Suite("damage guard: sync")
struct DamageGuardSyncTests {
    @Test("sync holds overwrites past the count rule, exits 1 naming them; the next sync still holds; --trust-changes sends them")
    func heldAcrossSyncs() async throws {
        let h = try SyncHarness()
        let limits = ["--guard-max-overwrites", "5", "--guard-max-percent", "100"]
        for i in 0..<20 { try h.write("\(i).txt", "v1 \(i)") }
        #expect(try h.sync(limits).status == 0)
        for i in 0..<20 { try h.write("\(i).txt", "v2 \(i) rewritten") }
        let held = try h.sync(limits)
        #expect(held.status == 1, "\(held.stdout)")
        #expect(held.stdout.contains("damage guard tripped in \(h.tree.path)"), "\(held.stdout)")
        #expect(try await h.emulator.listing().values.filter { $0.writes == 2 }.count == 5)
        #expect(try h.summary()["pending"] == 15)

        // The hold is in the ledger: another sync overwrites nothing more.
        let again = try h.sync(limits)
        #expect(again.status == 1)
        #expect(try await h.emulator.listing().values.filter { $0.writes == 2 }.count == 5)

        let trusted = try h.sync(limits + ["--trust-changes"])
        #expect(trusted.status == 0, "\(trusted.stdout)")
        let stored = try await h.emulator.listing()
        for i in 0..<20 { #expect(stored["\(i).txt"]?.sha256 == TestFiles.hex(Data("v2 \(i) rewritten".utf8).sha256Digest)) }
    }
}
