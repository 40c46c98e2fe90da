import ArgumentParser
import Foundation
import JigsyncCore

/// `jigsync get KEY`: download a stored file.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Download the file stored under KEY to standard output or a file.",
        discussion: "With -o the file appears under its name only once it is complete."
    )

    @Argument(help: "The stored key.") var key: String
    @Option(name: [.short, .customLong("output")], help: "Write to this file instead of standard output.") var output: String?
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let client = FileStoreClient(configuration: store.storeConfiguration())
        let destination: WritableFile
        do {
            destination = try output.map { try WritableFile(creatingAt: $0) } ?? WritableFile(standardOutput: ())
        } catch {
            throw fail(error, doing: "get")
        }
        do {
            _ = try await client.read(key: key, into: destination)
            try destination.commit()
        } catch {
            destination.discard()
            throw fail(error, doing: "get \(key)")
        }
    }
}
