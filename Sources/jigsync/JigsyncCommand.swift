import ArgumentParser
import JigsyncCore

/// `jigsync`: keeps folders synced to JigsawStack File Storage.
@main
struct JigsyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jigsync",
        abstract: "Keep folders synced to JigsawStack File Storage.",
        discussion: """
            The secret key comes from $JIGSAWSTACK_API_KEY (never from the command line); the API's
            base URL from --endpoint or $JIGSAWSTACK_API_URL (without /v1; default \(StoreConfiguration.defaultBaseURL)).
            """,
        version: JigsyncVersion.current,
        subcommands: [RunCommand.self, SyncCommand.self, StatusCommand.self, KeyCommand.self, URLCommand.self, RetryCommand.self, CheckCommand.self,
                      PauseCommand.self, ResumeCommand.self, ReloadCommand.self,
                      PutCommand.self, GetCommand.self, DeleteCommand.self]
    )
}
