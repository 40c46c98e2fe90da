import ArgumentParser
import Foundation
import JigsyncCore

/// `jigsync check`: validate a configuration before a daemon uses it.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file, and whether fs.inotify.max_user_watches fits its folders.",
        discussion: "Exit 0 when it is usable; 2 with the file, line, field and reason when it is not."
    )

    @Option(help: "The configuration file.") var config = ConfigurationLoader.defaultPath

    func run() throws {
        let file: JigsyncConfiguration
        do {
            file = try ConfigurationLoader.load(config)
        } catch {
            StandardError.write("jigsync: \(error)\n")
            throw ExitCode(2)
        }
        let folders = file.folders ?? []
        print("\(config): valid; \(folders.count) folder(s)")
        var directories = 0
        for folder in folders {
            var s = stat()
            guard stat(folder.path, &s) == 0 else {
                print("  \(folder.path) (optional, not there now)")
                continue
            }
            let count = FolderWalker.directories(at: folder.path, device: UInt64(s.st_dev)).count
            directories += count
            print("  \(folder.path) → keys \(FolderSpec(path: folder.path, prefix: folder.prefix ?? "").prefix)…, \(count) directories")
        }
        let limit = (try? String(contentsOfFile: "/proc/sys/fs/inotify/max_user_watches", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if let limit {
            if directories > limit {
                print("inotify: \(directories) directories to watch but fs.inotify.max_user_watches is \(limit): raise it to at least \(directories + 1024)")
                throw ExitCode(1)
            }
            print("inotify: \(directories) directories to watch; fs.inotify.max_user_watches is \(limit) (other programs' watches count too)")
        }
    }
}
