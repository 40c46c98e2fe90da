import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `jigsync url` and `jigsync status` answer the same URL for the same file, whatever the shell's
/// environment says now: both come from the ledger row the upload wrote.
@Suite("jigsync url")
struct URLCommandTests {
    @Test("url prints the URL status shows, also without $JIGSAWSTACK_API_URL; the public key is appended")
    func sameAsStatus() async throws {
        let emulator = try EmulatorProcess()
        let scratch = TemporaryDirectory.make(prefix: "url")
        let folder = scratch.appending(path: "tree")
        let file = try TestFiles.write("docs/a b.txt", "url test", in: folder)
        let ledger = scratch.appending(path: "ledger.db").path
        let sync = try ProcessRun.run(Products.jigsync, ["sync", "--folder", folder.path, "--ledger", ledger], environment: emulator.clientEnvironment)
        #expect(sync.status == 0, "\(sync.stderr)")

        var plain = ProcessInfo.processInfo.environment
        for name in ["JIGSAWSTACK_API_URL", "JIGSAWSTACK_API_KEY", "JIGSAWSTACK_PUBLIC_KEY"] { plain.removeValue(forKey: name) }
        let status = try ProcessRun.run(Products.jigsync, ["status", "--json", "--all", "--ledger", ledger], environment: plain)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let row = try #require((object["files"] as? [[String: Any]])?.first)
        let statusURL = try #require(row["url"] as? String)
        #expect(statusURL.hasPrefix(emulator.baseURL), "\(statusURL)")

        let url = try ProcessRun.run(Products.jigsync, ["url", file.path, "--ledger", ledger], environment: plain)
        #expect(url.status == 0, "\(url.stderr)")
        #expect(url.stdout == statusURL + "\n")

        var withPublic = plain
        withPublic["JIGSAWSTACK_PUBLIC_KEY"] = EmulatorProcess.publicKey
        let publicURL = try ProcessRun.run(Products.jigsync, ["url", file.path, "--ledger", ledger], environment: withPublic)
        #expect(publicURL.stdout == statusURL + "?x-api-key=" + EmulatorProcess.publicKey + "\n")
        // The public URL reads the stored bytes without the secret key.
        let (data, response) = try await URLSession.shared.data(from: URL(string: publicURL.stdout.trimmingCharacters(in: .newlines))!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: data, as: UTF8.self) == "url test")
    }
}
