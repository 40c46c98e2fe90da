import Foundation
import Testing
@testable import JigsyncCore

/// Every input kept in Fuzz/Corpus (the seeds, and each crash `make fuzz` ever found, kept as
/// its regression) through the same probe the fuzzer runs: nothing crashes, every property holds.
@Suite("Fuzz corpus regressions")
struct FuzzCorpusTests {
    static let corpus = Products.packageRoot.appending(path: "Fuzz/Corpus")

    @Test("each kept input of each parser holds its properties", arguments: ParserProbes.names)
    func corpus(_ name: String) throws {
        let probe = try #require(ParserProbes.named(name))
        let files = try FileManager.default.contentsOfDirectory(at: Self.corpus.appending(path: name), includingPropertiesForKeys: nil)
        #expect(!files.isEmpty, "no corpus for \(name)")
        for file in files {
            #expect(throws: Never.self, "\(name)/\(file.lastPathComponent)") { try probe(try Data(contentsOf: file)) }
        }
    }

    @Test("an answer that echoes the secret key never carries it into a message")
    func echoedSecretIsRedacted() throws {
        let answer = "HTTP/1.1 502 Bad Gateway\n\nupstream rejected x-api-key: \(ParserProbes.probeSecret)"
        #expect(throws: Never.self) { try ParserProbes.serverAnswer(Data(answer.utf8)) }
    }

    @Test("an inotify record that claims more name bytes than were read is not read past the buffer")
    func truncatedInotifyRecord() {
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes[0] = 1                       // wd 1
        bytes[4] = 0x02                    // IN_MODIFY
        bytes[12] = 0xFF; bytes[13] = 0xFF // len 65535, with no name bytes following
        let events = bytes.withUnsafeBytes { Inotify.parse($0) }
        #expect(events.isEmpty)
    }
}
