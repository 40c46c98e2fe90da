import Foundation
import Glibc
import Testing

/// `jigsync put`, `get` and `delete` run as real processes against the emulator.
@Suite("jigsync put / get / delete")
struct DirectCommandTests {
    let scratch = TemporaryDirectory.make(prefix: "cli")

    @Test("put prints the server's JSON, get -o writes the same bytes, delete removes the key")
    func putGetDelete() async throws {
        let emulator = try EmulatorProcess()
        let environment = emulator.clientEnvironment
        let file = try TestFiles.make(size: 70_000, in: scratch)

        let put = try ProcessRun.run(Products.jigsync, ["put", file.path, "--key", "cli/α b.bin", "--content-type", "application/x-cli"],
                                     environment: environment)
        #expect(put.status == 0, "\(put.stderr)")
        let answer = try JSONSerialization.jsonObject(with: Data(put.stdout.utf8)) as? [String: Any]
        #expect(answer?["key"] as? String == "cli/α b.bin")
        #expect(answer?["size"] as? Int == 70_000)
        #expect(try await emulator.listing()["cli/α b.bin"]?.sha256 == file.sha256)

        let again = try ProcessRun.run(Products.jigsync, ["put", file.path, "--key", "cli/α b.bin"], environment: environment)
        #expect(again.status == 1)
        #expect(again.stderr.contains("400"))
        #expect(again.stderr.contains("already exists"))
        #expect(again.stderr.split(separator: "\n").count == 1)
        let overwrite = try ProcessRun.run(Products.jigsync, ["put", file.path, "--key", "cli/α b.bin", "--overwrite"], environment: environment)
        #expect(overwrite.status == 0, "\(overwrite.stderr)")
        #expect(try await emulator.listing()["cli/α b.bin"]?.writes == 2)

        let out = scratch.appending(path: "out.bin").path
        let get = try ProcessRun.run(Products.jigsync, ["get", "cli/α b.bin", "-o", out], environment: environment)
        #expect(get.status == 0, "\(get.stderr)")
        #expect(try TestFiles.sha256(ofFileAt: out) == file.sha256)

        let delete = try ProcessRun.run(Products.jigsync, ["delete", "cli/α b.bin"], environment: environment)
        #expect(delete.status == 0, "\(delete.stderr)")
        #expect(try await emulator.listing().isEmpty)

        let missing = try ProcessRun.run(Products.jigsync, ["get", "cli/α b.bin", "-o", out + ".2"], environment: environment)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("404"))
        #expect(!FileManager.default.fileExists(atPath: out + ".2"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.contains("partial") }
        #expect(leftovers.isEmpty)
    }

    @Test("a rejected key exits 3 with one line that never contains the key")
    func rejectedKey() throws {
        let emulator = try EmulatorProcess()
        var environment = emulator.clientEnvironment
        let wrong = "sk-wrong-\(UUID().uuidString)"
        environment["JIGSAWSTACK_API_KEY"] = wrong
        let file = try TestFiles.make(size: 10, in: scratch)
        let put = try ProcessRun.run(Products.jigsync, ["put", file.path], environment: environment)
        #expect(put.status == 3)
        #expect(put.stderr.contains("401"))
        #expect(put.stderr.contains("JIGSAWSTACK_API_KEY"))
        #expect(!(put.stdout + put.stderr).contains(wrong))
    }

    @Test("a FIFO or a symlink is refused by put without blocking or following it")
    func notRegularFiles() throws {
        let emulator = try EmulatorProcess()
        let fifo = scratch.appending(path: "fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let fifoRun = try ProcessRun.run(Products.jigsync, ["put", fifo], environment: emulator.clientEnvironment)
        #expect(fifoRun.status == 1)
        #expect(fifoRun.stderr.contains("FIFO"))

        let target = try TestFiles.make(size: 10, in: scratch)
        let link = scratch.appending(path: "link").path
        #expect(symlink(target.path, link) == 0)
        let linkRun = try ProcessRun.run(Products.jigsync, ["put", link], environment: emulator.clientEnvironment)
        #expect(linkRun.status == 1)
        #expect(linkRun.stderr.contains("symbolic link"))
    }
}
