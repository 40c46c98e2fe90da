import Crypto
import Foundation
import Glibc
@testable import JigsyncCore
import Testing

/// Names are bytes: two spellings of `café` are two files, and a name holding a newline stays one line.
@Suite("Names as bytes")
struct NameTests {
    /// Creates `name` beneath `directory` with exactly these bytes (no Foundation path handling in between).
    private static func create(_ name: [UInt8], _ content: String, in directory: URL) throws {
        let path = Array(directory.path.utf8) + [UInt8(ascii: "/")] + name + [0]
        let fd = path.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT | O_EXCL, 0o644) }
        guard fd >= 0 else { throw TestFailure("create \(name): errno \(errno)") }
        defer { close(fd) }
        let bytes = Array(content.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw TestFailure("write \(name): errno \(errno)") }
    }

    static let nfc: [UInt8] = Array("caf\u{e9}.txt".utf8)          // caf\xc3\xa9.txt
    static let nfd: [UInt8] = Array("cafe\u{301}.txt".utf8)        // cafe\xcc\x81.txt

    @Test("café in NFC and in NFD sync to two keys with their own bytes; a second sync uploads nothing")
    func normalizationForms() async throws {
        #expect(Self.nfc != Self.nfd)
        let h = try SyncHarness()
        try Self.create(Self.nfc, "composed é", in: h.tree)
        try Self.create(Self.nfd, "decomposed e + accent", in: h.tree)

        let first = try h.sync()
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        let stored = try await h.emulator.storedFiles()
        #expect(stored.count == 2, "\(stored.map(\.key))")
        let nfcFile = stored.first { Array($0.key.utf8) == Self.nfc }
        let nfdFile = stored.first { Array($0.key.utf8) == Self.nfd }
        #expect(nfcFile?.sha256 == TestFiles.hex(SHA256.hash(data: Data("composed é".utf8))))
        #expect(nfdFile?.sha256 == TestFiles.hex(SHA256.hash(data: Data("decomposed e + accent".utf8))))

        let files = try h.status(["--all"])["files"] as? [[String: Any]] ?? []
        #expect(files.count == 2)
        #expect(files.allSatisfy { $0["state"] as? String == "uploaded" }, "\(files)")

        let second = try h.sync()
        #expect(second.status == 0)
        #expect(SyncHarness.count("uploaded", in: second.stdout) == 0, "\(second.stdout)")
        #expect(SyncHarness.count("hashed", in: second.stdout) == 0, "\(second.stdout)")
        #expect(try await h.emulator.storedFiles().map(\.writes) == [1, 1])
    }

    @Test("the scheduler, the coalescer and path keys keep the two forms apart")
    func keyedByBytes() async {
        let nfc = String(decoding: Self.nfc, as: UTF8.self), nfd = String(decoding: Self.nfd, as: UTF8.self)
        #expect(nfc == nfd)   // what String equality says, and why it is not used for paths
        #expect(PathBytes(nfc) != PathBytes(nfd))
        #expect(Set([PathBytes(nfc), PathBytes(nfd)]).count == 2)

        var coalescer = Coalescer(settle: .milliseconds(20), quiet: .seconds(2))
        let now = ContinuousClock.now
        coalescer.note(WatchedPath(folder: FolderID("/f"), path: nfc), .settled, at: now)
        coalescer.note(WatchedPath(folder: FolderID("/f"), path: nfd), .settled, at: now)
        #expect(coalescer.takeDue(at: now + .seconds(1)).count == 2)

        let scheduler = UploadScheduler(workers: 2)
        let stat = FileStat(kind: .regular, size: 1, mtimeNanoseconds: 0, ctimeNanoseconds: 0, inode: 1, device: 1)
        await scheduler.add(FileRecord(folder: "/f", path: nfc, key: nfc, stat: stat, state: .pending, examinedAt: 0))
        #expect(await scheduler.contains(folder: "/f", path: nfc))
        #expect(await !scheduler.contains(folder: "/f", path: nfd))
    }

    @Test("paths compare and order by their bytes: as the UTF-8 views do, bytes above 0x7F after ASCII, a prefix first")
    func bytewiseOrder() {
        let nfc = String(decoding: Self.nfc, as: UTF8.self), nfd = String(decoding: Self.nfd, as: UTF8.self)
        let bridged = NSString(string: "d/bridged.txt") as String
        let names = ["", "a", "a/", "a/b", "ab", "a\u{0}b", "Z", "z", "é", nfc, nfd, "日本/語", "d/bridged.txt", bridged,
                     String(repeating: "long/", count: 40) + "x", String(repeating: "long/", count: 40) + "y"]
        for lhs in names {
            for rhs in names {
                #expect((PathBytes(lhs) == PathBytes(rhs)) == lhs.utf8.elementsEqual(rhs.utf8), "\(lhs.debugDescription) == \(rhs.debugDescription)")
                #expect((PathBytes(lhs) < PathBytes(rhs)) == lhs.utf8.lexicographicallyPrecedes(rhs.utf8), "\(lhs.debugDescription) < \(rhs.debugDescription)")
            }
        }
        #expect(PathBytes("a") < PathBytes("a/"))
        #expect(PathBytes("z") < PathBytes("é"))   // 0x7A before 0xC3, as SQLite orders TEXT
    }
    @Test("names with newlines, tabs and escapes print escaped in status and sync's report; JSON is exact")
    func controlCharacters() async throws {
        let h = try SyncHarness()
        // The emulator refuses keys with control characters (400), so the file fails and is
        // named in sync's report, in the status rows and in JSON.
        let evil = "evil\nfailed: forged\t\u{1b}[31m\\n.txt"
        try Self.create(Array(evil.utf8), "x", in: h.tree)
        let shown = "evil\\nfailed: forged\\t\\033[31m\\\\n.txt"
        let run = try h.sync()
        #expect(run.status == 1)
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("failed") }.count == 1, "\(run.stdout)")
        #expect(lines.contains { $0.hasPrefix("failed: \(h.tree.path)/\(shown): HTTP 400") }, "\(run.stdout)")

        let text = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--all"], environment: h.emulator.clientEnvironment)
        #expect(text.status == 0)
        let rows = text.stdout.split(separator: "\n").filter { $0.contains(h.tree.path) }
        #expect(rows.count == 1, "\(text.stdout)")
        let columns = rows.first?.split(separator: "\t", omittingEmptySubsequences: false) ?? []
        // state, path, key, last error: a tab in the name adds no column, a newline no row.
        #expect(columns.count == 4, "\(rows)")
        #expect(columns.first == "failed")
        #expect(columns.dropFirst().first.map(String.init) == "\(h.tree.path)/\(shown)")
        #expect(columns.dropFirst(2).first.map(String.init) == shown)

        let json = try h.status(["--all"])["files"] as? [[String: Any]] ?? []
        #expect(json.compactMap { $0["key"] as? String }.map { Array($0.utf8) } == [Array(evil.utf8)])
        #expect(json.compactMap { $0["path"] as? String }.map { Array($0.utf8) } == [Array((h.tree.path + "/" + evil).utf8)])
    }

    @Test("the escaping: ls -b style for control characters and backslashes, printable text untouched")
    func escaping() {
        #expect("plain name.txt".escapedForDisplay == "plain name.txt")
        #expect("caf\u{e9} ünï 写真.jpg".escapedForDisplay == "caf\u{e9} ünï 写真.jpg")
        #expect("a\nb\tc\rd\\e".escapedForDisplay == "a\\nb\\tc\\rd\\\\e")
        #expect("\u{1b}[0m\u{7f}".escapedForDisplay == "\\033[0m\\177")
        #expect("x\u{85}y\u{2028}z".escapedForDisplay == "x\\302\\205y\\342\\200\\250z")
    }
}
