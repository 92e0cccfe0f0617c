/// One fuzz target: a plain function over one input that returns normally for
/// any input and traps (through ``FuzzCheck/require(_:_:)`` or a Swift
/// runtime check) only on a bug.
///
/// The same functions run under libFuzzer (a build with `-DFUZZING`) and in
/// the replay of the committed corpora and crash regressions (a normal build),
/// so a crash found once stays reproducible by `scripts/test.sh`.
struct FuzzTarget: Sendable {
    /// The name on the command line and the corpus folder's name under `fuzz/`.
    let name: String
    /// What the target feeds its input to.
    let summary: String
    let run: @Sendable (UnsafeRawBufferPointer) -> Void

    /// Every target, in the order `notify-fuzz list` prints them.
    static let all: [FuzzTarget] = [
        FuzzTarget(
            name: "frame",
            summary: "FrameDecoder over a byte stream (whole and split in two), each frame re-encoded, the server's call state machine",
            run: FrameTargets.frameStream
        ),
        FuzzTarget(
            name: "envelope",
            summary: "Frame.decode(payload:) over one frame body (the notify.v1.Frame envelope), re-encoded",
            run: FrameTargets.envelope
        ),
        FuzzTarget(
            name: "metadata",
            summary: "the fields of a request frame after call_id and method (mostly metadata entries) and the Metadata lookups",
            run: FrameTargets.metadata
        ),
        FuzzTarget(
            name: "request",
            summary: "each request message's protobuf-c decoder (first byte picks one of 14), its validation, re-encoded",
            run: RequestTarget.run
        ),
        FuzzTarget(
            name: "gateway-json",
            summary: "the gateway's body translation (first byte picks Notify JSON, SendNotification JSON, form, gzip/deflate) into requests",
            run: GatewayJSONTarget.run
        ),
        FuzzTarget(
            name: "rfc3339",
            summary: "Timestamp's RFC 3339 parser, and formatting what it parses",
            run: TimestampTarget.run
        ),
    ]

    static func named(_ name: String) -> FuzzTarget? {
        all.first { $0.name == name }
    }
}

/// Invariant checks that trap, so that libFuzzer records the input as a crash.
enum FuzzCheck {
    static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition {
            fatalError("fuzz invariant broken: \(message())")
        }
    }
}
