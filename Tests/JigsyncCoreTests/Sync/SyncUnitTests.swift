import Foundation
@testable import JigsyncCore
import Testing

@Suite("Sync building blocks")
struct SyncUnitTests {
    @Test("default excludes catch editor and download temp files, not ordinary names")
    func defaultExcludes() {
        let filter = PathFilter()
        for name in [".notes.txt.swp", "draft~", ".#lock", "4913", "x.tmp", "movie.mp4.part", "f.crdownload", ".~lock.report.odt#", "a/b/.c.swp"] {
            #expect(filter.exclusionReason(name) != nil, "\(name)")
        }
        for name in ["notes.txt", "a/b/c.swpx", "tmp/file.txt", "4913.txt"] {
            #expect(filter.exclusionReason(name) == nil, "\(name)")
        }
        let only = PathFilter(includes: ["*.jpg", "docs/*.pdf"])
        #expect(only.exclusionReason("a/photo.jpg") == nil)
        #expect(only.exclusionReason("docs/x.pdf") == nil)
        #expect(only.exclusionReason("docs/sub/x.pdf") != nil)
        #expect(only.exclusionReason("notes.txt") != nil)
    }

    @Test("patterns match long paths and small ones alike, name or path; changed patterns take effect")
    func patternForms() {
        let filter = PathFilter()
        // Longer than a small string's 15 bytes, and names at the root and deep down.
        #expect(filter.exclusionReason("a/rather/deep/directory/tree/.notes.txt.swp") == "matches the exclude pattern .*.swp")
        #expect(filter.exclusionReason("a/rather/deep/directory/tree/notes.txt") == nil)
        #expect(filter.exclusionReason("x~") == "matches the exclude pattern *~")
        #expect(filter.exclusionReason("") == nil)
        var changed = PathFilter(includes: ["docs/*.pdf"], excludes: [])
        #expect(changed.exclusionReason("docs/a.pdf") == nil)
        #expect(changed.exclusionReason("docs/sub/a.pdf") == "matches no include pattern")
        changed.includes = []
        changed.excludes = ["*.pdf"]
        #expect(changed.exclusionReason("docs/sub/a.pdf") == "matches the exclude pattern *.pdf")
        #expect(changed != PathFilter(includes: ["docs/*.pdf"], excludes: []))
        #expect(PathFilter.matches("docs/*.pdf", path: "docs/a.pdf"))
        #expect(!PathFilter.matches("*.pdf", path: "docs/a.pdf.txt"))
    }

    @Test("durations parse as people write them")
    func durations() {
        #expect(DurationParser.parse("90") == .seconds(90))
        #expect(DurationParser.parse("2m") == .seconds(120))
        #expect(DurationParser.parse("1h30m") == .seconds(5400))
        #expect(DurationParser.parse("500ms") == .milliseconds(500))
        #expect(DurationParser.parse("soon") == nil)
        #expect(DurationParser.parse("-1") == nil)
    }

    @Test("backoff stays within base·2ⁿ⁻¹, is capped, and never undercuts the server's wait")
    func backoff() {
        let policy = RetryPolicy()
        var generator = SystemRandomNumberGenerator()
        for attempt in 1...20 {
            let ceiling = min(Duration.seconds(300), .seconds(1) * (1 << min(attempt - 1, 30)))
            let delay = policy.delay(attempt: attempt, serverWait: nil, using: &generator)
            #expect(delay >= .zero && delay <= ceiling)
        }
        #expect(policy.delay(attempt: 1, serverWait: .seconds(7), using: &generator) >= .seconds(7))
    }

    @Test("racily clean: a change within a clock tick of the examination cannot be trusted")
    func racy() {
        let stat = FileStat(kind: .regular, size: 1, mtimeNanoseconds: 1_000_000_000, ctimeNanoseconds: 1_000_000_000, inode: 1, device: 1)
        let racy = FileRecord(folder: "/f", path: "p", key: "p", stat: stat, state: .uploaded, examinedAt: 1_005_000_000)
        #expect(racy.isRacy())
        let clean = FileRecord(folder: "/f", path: "p", key: "p", stat: stat, state: .uploaded, examinedAt: 2_000_000_000)
        #expect(!clean.isRacy())
    }

    @Test("prefixes name a folder in the store")
    func prefixes() {
        #expect(FolderSpec(path: "/x/", prefix: "photos").key(for: "a.jpg") == "photos/a.jpg")
        #expect(FolderSpec(path: "/x", prefix: "/photos/").key(for: "a.jpg") == "photos/a.jpg")
        #expect(FolderSpec(path: "/x").key(for: "a/b.jpg") == "a/b.jpg")
        #expect(FolderSpec(path: "/x/").path == "/x")
    }
}

@Suite("Content types")
struct ContentTypeTests {
    @Test("by extension from a mime.types table, overridable by glob, else octet-stream")
    func lookup() throws {
        let table = TemporaryDirectory.make(prefix: "mime").appending(path: "mime.types")
        try "# comment\ntext/markdown\tmd markdown\nimage/jpeg jpeg jpg jpe\n".write(to: table, atomically: true, encoding: .utf8)
        let types = ContentTypes(file: table.path, overrides: [("notes/*.txt", "text/x-notes")])
        #expect(types.type(for: "a/b/photo.JPG") == "image/jpeg")
        #expect(types.type(for: "README.md") == "text/markdown")
        #expect(types.type(for: "notes/today.txt") == "text/x-notes")
        #expect(types.type(for: "other/today.txt") == ContentTypes.fallback)
        #expect(types.type(for: ".hidden") == ContentTypes.fallback)
        #expect(types.type(for: "noextension") == ContentTypes.fallback)
    }

    @Test("the table: tabs, CRLF and blank lines, extensions of any case, the first type of an extension wins")
    func tableForms() throws {
        let table = TemporaryDirectory.make(prefix: "mime").appending(path: "mime.types")
        try "\n# a comment jpg\r\napplication/pdf\t\tPDF\r\n\nimage/png png\ntext/x-other png pdf\nlonely/type\n"
            .write(to: table, atomically: true, encoding: .utf8)
        let types = ContentTypes(file: table.path)
        #expect(types.type(for: "a/report.pdf") == "application/pdf")
        #expect(types.type(for: "SCAN.PDF") == "application/pdf")
        #expect(types.type(for: "p.png") == "image/png")
        #expect(types.type(for: "x.jpg") == ContentTypes.fallback)
        #expect(types.type(for: "x.type") == ContentTypes.fallback)
    }
}

@Suite("Folder walks")
struct FolderWalkTests {
    @Test("a folder walked twice through the same handle yields the same entries (no shared directory offset)")
    func walkTwice() throws {
        let root = TemporaryDirectory.make(prefix: "walk")
        for name in ["a", "b/c", "b/d/e"] {
            let url = root.appending(path: name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(name.utf8).write(to: url)
        }
        let folder = try Folder(path: root.path)
        let first = try FolderWalker.walk(folder).map(\.relativePath).sorted()
        let second = try FolderWalker.walk(folder).map(\.relativePath).sorted()
        #expect(first == ["a", "b/c", "b/d/e"])
        #expect(second == first)
        #expect(try FolderWalker.walk(folder, under: "b").map(\.relativePath).sorted() == ["b/c", "b/d/e"])
    }
}
