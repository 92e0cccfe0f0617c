/// How a field is named on each edge (docs/PROTOCOL.md, "Field violations").
///
/// A ``Violation`` names a field by the contract's JSON path, as the gateway
/// hands it back to its caller: Graph's camelCase (`payload.visualContent.title`,
/// `targetPolicy.platformTypes[1]`) or SelfCommunity's names (`embed.metadata`).
/// Over RPC a `FieldViolation` names the proto field path instead
/// (`payload.visual_content.title`, `target_policy.platform_types[1]`,
/// `embed.metadata_json`), so that a client written from proto/ finds the field
/// it set. A call-metadata key is named `metadata[<key>]` over RPC
/// (`metadata[x-uns-id]`) and by its header name through the gateway (`X-UNS-ID`).
/// The service maps once when it answers (``rpc(_:)``), the gateway once when it
/// reads the answer (``contract(_:)``).
public enum FieldPath {
    /// The proto field path of a contract JSON path (identity for names that are
    /// already the proto's).
    public static func rpc(_ contractPath: String) -> String {
        if contractPath == "X-UNS-ID" { return "metadata[x-uns-id]" }
        return map(contractPath, segment: toProto)
    }

    /// The contract JSON path of a proto field path, for the gateway's answers.
    ///
    /// - Parameter graph: whether the call is SendNotification (Graph's names),
    ///   else Notify (SelfCommunity's, which the proto already uses but for
    ///   `metadata_json`).
    public static func contract(_ rpcPath: String, graph: Bool) -> String {
        if rpcPath == "metadata[x-uns-id]" { return "X-UNS-ID" }
        return map(rpcPath) { graph ? toGraph($0) : toSelfCommunity($0) }
    }

    /// Applies `segment` to each dot-separated name, keeping any `[index]`.
    private static func map(_ path: String, segment: (String) -> String) -> String {
        path.split(separator: ".", omittingEmptySubsequences: false).map { part in
            let name = part.prefix { $0 != "[" }
            return segment(String(name)) + part.dropFirst(name.count)
        }.joined(separator: ".")
    }

    /// Graph and SelfCommunity names to the proto's.
    private static func toProto(_ name: String) -> String {
        switch name {
        case "metadata": "metadata_json"
        case "fallbackPolicy": "fallback_policy_json"
        case "appNotificationId": "app_notification_id"
        default: snakeCase(name)
        }
    }

    private static func toSelfCommunity(_ name: String) -> String {
        name == "metadata_json" ? "metadata" : name
    }

    private static func toGraph(_ name: String) -> String {
        switch name {
        case "fallback_policy_json": "fallbackPolicy"
        case "app_notification_id": "appNotificationId"
        default: camelCase(name)
        }
    }

    private static func snakeCase(_ name: String) -> String {
        var out = ""
        for character in name {
            if character.isUppercase {
                out += "_" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }

    private static func camelCase(_ name: String) -> String {
        var out = ""
        var upper = false
        for character in name {
            if character == "_" {
                upper = true
            } else {
                out += upper ? character.uppercased() : String(character)
                upper = false
            }
        }
        return out
    }
}
