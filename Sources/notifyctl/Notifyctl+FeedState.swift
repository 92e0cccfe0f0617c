import ArgumentParser
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyJSON
import NotifyMessages

// The feed's state RPCs (FeedService: MarkRead, UnseenCount, SetActionState,
// Delete, DeleteGroup, Get) and CreateStreamTicket. A change prints the event's
// sequence (0: nothing changed) and the view's unseen count after it.

extension FeedChangeResponse {
    var json: JSONValue {
        .object(["sequence": .integer(Int64(clamping: sequence)), "unseenCount": .integer(Int64(clamping: unseenCount))])
    }
}

struct EntryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entry", abstract: "Read, count, change, delete or get a user's feed entries.",
        subcommands: [Read.self, Unseen.self, State.self, Delete.self, DeleteGroup.self, Get.self])

    struct Read: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "MarkRead: the entries named by --id, or every entry up to --up-to.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user.") var user: Int64
        @Option(name: .customLong("id"), help: "A notification id (repeatable).") var ids: [String] = []
        @Option(help: "Every entry with this sequence or a lower one.") var upTo: UInt64?
        @Option(help: "Only this view's entries with --up-to: notify or graph.") var source: String?

        func run() async throws {
            let request = MarkReadRequest(user: user, ids: ids, upToSequence: upTo, source: source)
            print(try await connection.call(NotifyMethods.markRead, request).json.text)
        }
    }

    struct Unseen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "UnseenCount: the user's unread entries.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user.") var user: Int64
        @Option(help: "Only this view's entries: notify or graph.") var source: String?

        func run() async throws {
            let response = try await connection.call(NotifyMethods.unseenCount, UnseenCountRequest(user: user, source: source))
            print(JSONValue.object(["count": .integer(Int64(clamping: response.count))]).text)
        }
    }

    struct State: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "SetActionState: noInteraction, activated, dismissed or snoozed.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user.") var user: Int64
        @Option(help: "The notification id.") var id: String
        @Argument(help: "The new state.") var state: String

        func run() async throws {
            let request = SetActionStateRequest(user: user, id: id, actionState: state)
            print(try await connection.call(NotifyMethods.setActionState, request).json.text)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete: the entries named by --id.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user.") var user: Int64
        @Option(name: .customLong("id"), help: "A notification id (repeatable).") var ids: [String] = []

        func run() async throws {
            print(try await connection.call(NotifyMethods.deleteEntries, DeleteEntriesRequest(user: user, ids: ids)).json.text)
        }
    }

    struct DeleteGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete-group", abstract: "DeleteGroup: every Graph entry of the user with this groupName.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user.") var user: Int64
        @Option(help: "The groupName.") var group: String

        func run() async throws {
            let request = DeleteGroupRequest(user: user, groupName: group)
            print(try await connection.call(NotifyMethods.deleteGroup, request).json.text)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Get: one entry, as the feed prints it.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user.") var user: Int64
        @Option(help: "The notification id.") var id: String

        func run() async throws {
            let response = try await connection.call(NotifyMethods.getEntry, GetEntryRequest(user: user, id: id))
            print(response.notification.feedEntryText)
        }
    }
}

struct Ticket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "CreateStreamTicket: a single-use ticket that starts one stream as this token (browsers' EventSource).")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let response = try await connection.call(NotifyMethods.createStreamTicket, CreateStreamTicketRequest())
        print(JSONValue.object([
            "ticket": .string(response.ticket), "expiresDateTime": .string(response.expiresDateTime),
        ]).text)
    }
}
