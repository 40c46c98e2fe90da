import ArgumentParser
import Foundation
import JigsyncCore

/// `jigsync`: keeps folders synced to JigsawStack File Storage. (`main.swift` starts it.)
struct JigsyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jigsync",
        abstract: "Keep folders synced to JigsawStack File Storage.",
        discussion: """
            The secret key comes from $JIGSAWSTACK_API_KEY, a systemd credential or a mode-0600 configuration file, never \
            from the command line. The API's base URL comes from --endpoint or $JIGSAWSTACK_API_URL (without /v1; default \
            \(StoreConfiguration.defaultBaseURL)). Exit status: 0 success; 1 a file or request failed; 2 a usage or \
            configuration error; 3 the service rejected the API key or the endpoint.
            """,
        version: JigsyncVersion.current,
        subcommands: [RunCommand.self, SyncCommand.self, StatusCommand.self, KeyCommand.self, URLCommand.self, RetryCommand.self, CheckCommand.self,
                      PauseCommand.self, ResumeCommand.self, ReloadCommand.self, VersionsCommand.self, RestoreCommand.self,
                      EventsCommand.self,
                      PutCommand.self, GetCommand.self, DeleteCommand.self]
    )

    /// Parses and runs the command; a usage error exits 2 (ArgumentParser's default is 64), the
    /// code every jigsync command documents for "fix the command line or the configuration".
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                StandardError.write(fullMessage(for: error) + "\n")
                Foundation.exit(usageErrorStatus)
            }
            exit(withError: error)
        }
    }

    static let usageErrorStatus: Int32 = 2

    /// For the commands that write the ledger while they send (`run`, `sync`): a log reader that
    /// goes away (a `| tee` ended by the same Ctrl-C, a closed terminal) must not kill the process
    /// by SIGPIPE between a row committed `uploading` and its answer, or in the middle of a graceful
    /// stop; a write to it fails with EPIPE instead and the work goes on. (systemd sets
    /// `IgnoreSIGPIPE=yes` for services; a shell does not.)
    static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}
