import ArgumentParser
import Foundation
import JigsyncCore

/// `jigsync delete KEY`: delete a stored file.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete the file stored under KEY."
    )

    @Argument(help: "The stored key.") var key: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let client = FileStoreClient(configuration: store.storeConfiguration())
        do {
            try await client.delete(key: key)
        } catch {
            throw fail(error, doing: "delete \(key)")
        }
    }
}
