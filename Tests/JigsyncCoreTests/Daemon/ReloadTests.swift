import Foundation
import Glibc
import Testing

/// SIGHUP and `jigsync reload`: the configuration file re-read by the running daemon.
@Suite("Reload")
struct ReloadTests {
    @Test("a folder added by SIGHUP is uploaded, a removed one stops being watched, a broken file leaves the old one in force")
    func reload() async throws {
        let h = try DaemonHarness()
        let a = h.root.appending(path: "a"), b = h.root.appending(path: "b")
        for dir in [a, b] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        let config = h.root.appending(path: "config.yaml")
        func configure(_ text: String) throws { try text.write(to: config, atomically: true, encoding: .utf8) }
        try configure("folders:\n  - path: \(a.path)\n    prefix: a\n")
        try h.start(folders: ["--config", config.path])
        try TestFiles.write("one.txt", "in a", in: a)
        try await h.waitStored("a/one.txt", "in a")

        // SIGHUP: b is added.
        try configure("folders:\n  - path: \(a.path)\n    prefix: a\n  - path: \(b.path)\n    prefix: b\n")
        try TestFiles.write("before.txt", "in b before the reload", in: b)
        kill(try #require(h.process?.processIdentifier), SIGHUP)
        try await h.waitStored("b/before.txt", "in b before the reload")
        try TestFiles.write("after.txt", "in b after", in: b)
        try await h.waitStored("b/after.txt", "in b after")

        // `jigsync reload`: a is removed.
        try configure("folders:\n  - path: \(b.path)\n    prefix: b\n")
        let reload = try ProcessRun.run(Products.jigsync, ["reload", "--ledger", h.ledger])
        #expect(reload.status == 0, "\(reload.stderr)")
        #expect(reload.stdout.contains(b.path))
        try TestFiles.write("ignored.txt", "a is not watched now", in: a)
        try TestFiles.write("marker.txt", "marker", in: b)
        try await h.waitStored("b/marker.txt", "marker")
        #expect(try await h.emulator.listing()["a/ignored.txt"] == nil)

        // A broken file is refused with the reason; the running configuration stays.
        try configure("folders: [\n")
        let broken = try ProcessRun.run(Products.jigsync, ["reload", "--ledger", h.ledger])
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("config.yaml:2:1: a `[` list is not closed with `]`"), "\(broken.stderr)")
        try TestFiles.write("still.txt", "still served", in: b)
        try await h.waitStored("b/still.txt", "still served")
        #expect(h.stop() == 0)
    }
}

@Suite("Optional folders")
struct OptionalFolderTests {
    @Test("an optional folder absent at start is picked up when it appears")
    func appearsLater() async throws {
        let h = try DaemonHarness()
        let usb = h.root.appending(path: "usb")
        let config = h.root.appending(path: "config.yaml")
        try "folders:\n  - path: \(h.tree.path)\n    prefix: main\n  - path: \(usb.path)\n    prefix: usb\n    optional: true\n"
            .write(to: config, atomically: true, encoding: .utf8)
        try h.start(folders: ["--config", config.path])
        let status = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger])
        #expect(status.stdout.contains("is not there"), "\(status.stdout)")
        try FileManager.default.createDirectory(at: usb, withIntermediateDirectories: true)
        try await waitUntil { h.logText.contains("is back") }
        try TestFiles.write("photo.jpg", "a photo", in: usb)
        try await h.waitStored("usb/photo.jpg", "a photo")
        #expect(h.stop() == 0)
    }
}
