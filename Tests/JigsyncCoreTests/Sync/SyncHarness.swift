import Foundation

/// A folder, a ledger and an emulator for one `jigsync sync` test.
final class SyncHarness {
    let emulator: EmulatorProcess
    let root = TemporaryDirectory.make(prefix: "sync")
    var tree: URL { root.appending(path: "tree") }
    var ledger: String { root.appending(path: "state/ledger.db").path }

    init(emulatorArguments: [String] = []) throws {
        emulator = try EmulatorProcess(arguments: emulatorArguments)
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
    }

    /// Writes `content` at `relative` beneath the tree, creating directories.
    @discardableResult
    func write(_ relative: String, _ content: String) throws -> URL {
        try TestFiles.write(relative, content, in: tree)
    }

    func sync(_ extra: [String] = [], prefix: String = "", environment: [String: String]? = nil) throws -> ProcessRun {
        let folder = prefix.isEmpty ? tree.path : tree.path + ":" + prefix
        return try ProcessRun.run(Products.jigsync, ["sync", "--folder", folder, "--ledger", ledger] + extra,
                                  environment: environment ?? emulator.clientEnvironment)
    }

    /// Starts a sync without waiting for it.
    func startSync(_ extra: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = Products.jigsync
        process.arguments = ["sync", "--folder", tree.path, "--ledger", ledger] + extra
        process.environment = emulator.clientEnvironment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    func status(_ extra: [String] = []) throws -> [String: Any] {
        let run = try ProcessRun.run(Products.jigsync, ["status", "--ledger", ledger, "--json"] + extra, environment: emulator.clientEnvironment)
        guard run.status == 0, let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] else {
            throw TestFailure("status failed: \(run.status) \(run.stderr)")
        }
        return object
    }

    func summary() throws -> [String: Int] {
        (try status()["summary"] as? [String: Int]) ?? [:]
    }

    /// The counts in sync's summary line ("… 3 uploaded (…), 2 unchanged, 0 hashed …").
    static func count(_ word: String, in output: String) -> Int? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("examined") }) else { return nil }
        let words = line.split(separator: " ")
        guard let index = words.firstIndex(where: { $0.hasPrefix(word) }), index > 0 else { return nil }
        return Int(words[index - 1])
    }

    /// SHA-256 of every regular file beneath the tree, by relative path.
    func localHashes() throws -> [String: String] {
        var hashes: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(at: tree, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey])!
        for case let url as URL in enumerator {
            let values = try url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
            guard values.isRegularFile == true, values.isSymbolicLink != true else { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(tree.standardizedFileURL.path.count + 1))
            hashes[relative] = try TestFiles.sha256(ofFileAt: url.path)
        }
        return hashes
    }
}
