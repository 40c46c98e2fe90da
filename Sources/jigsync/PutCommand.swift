import ArgumentParser
import Foundation
import JigsyncCore

/// `jigsync put FILE`: upload one file and print the server's answer.
struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Upload one file; print the server's JSON answer.",
        discussion: "Exit 0 on success; 1 with the status and the server's message otherwise; 3 when the key or endpoint is rejected."
    )

    @Argument(help: "The file to upload.") var file: String
    @Option(help: "The key to store it under (default: the server picks one).") var key: String?
    @Flag(help: "Replace a file already stored under the key.") var overwrite = false
    @Option(help: "Content type to store (default: the service detects it).") var contentType: String?
    @Flag(help: "Ask for a temporary public URL.") var tempPublicUrl = false
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let client = FileStoreClient(configuration: store.storeConfiguration())
        let source: ReadableFile
        do { source = try ReadableFile(path: file) } catch { throw fail(error, doing: "put") }
        let options = FileStoreClient.UploadOptions(key: key, overwrite: overwrite, contentType: contentType, temporaryPublicURL: tempPublicUrl)
        do {
            let result = try await client.upload(source, options: options)
            FileHandle.standardOutput.write(result.responseBody)
            FileHandle.standardOutput.write(Data("\n".utf8))
        } catch {
            throw fail(error, doing: "put \(file)")
        }
    }
}
