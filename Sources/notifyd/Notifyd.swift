import ArgumentParser

/// notifyd: the notify service.
@main
struct Notifyd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifyd",
        abstract: "The notify notification service.",
        discussion: """
            Every option of `serve` and `gateway` can also be set by a NOTIFY_* environment variable \
            (named in each option's help); a flag wins over the variable, the variable over the default.
            """,
        subcommands: [Serve.self, Gateway.self, Admin.self],
        defaultSubcommand: Serve.self
    )
}
