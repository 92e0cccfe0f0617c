/// The outcome of a call, numbered as `google.rpc.Code`.
///
/// A struct rather than an enum so that a peer sending a number this build does not know cannot
/// crash or confuse us: ``init(rawValue:)`` maps every unknown number to ``unknown``, and the set of
/// codes can grow without breaking switch statements in other modules.
public struct StatusCode: Hashable, Sendable, CustomStringConvertible {
    private enum Wrapped: UInt32, Hashable, Sendable {
        case ok = 0
        case cancelled = 1
        case unknown = 2
        case invalidArgument = 3
        case deadlineExceeded = 4
        case notFound = 5
        case alreadyExists = 6
        case permissionDenied = 7
        case resourceExhausted = 8
        case failedPrecondition = 9
        case aborted = 10
        case outOfRange = 11
        case unimplemented = 12
        case internalError = 13
        case unavailable = 14
        case dataLoss = 15
        case unauthenticated = 16
    }

    private let wrapped: Wrapped

    private init(_ wrapped: Wrapped) {
        self.wrapped = wrapped
    }

    /// Maps a wire number to a code.
    ///
    /// Numbers outside `google.rpc.Code` become ``unknown``, so the status a caller sees is always one
    /// it can switch on; the original number is not kept.
    public init(rawValue: UInt32) {
        self.wrapped = Wrapped(rawValue: rawValue) ?? .unknown
    }

    /// The `google.rpc.Code` number carried on the wire.
    public var rawValue: UInt32 {
        self.wrapped.rawValue
    }

    public static let ok = StatusCode(.ok)
    public static let cancelled = StatusCode(.cancelled)
    public static let unknown = StatusCode(.unknown)
    public static let invalidArgument = StatusCode(.invalidArgument)
    public static let deadlineExceeded = StatusCode(.deadlineExceeded)
    public static let notFound = StatusCode(.notFound)
    public static let alreadyExists = StatusCode(.alreadyExists)
    public static let permissionDenied = StatusCode(.permissionDenied)
    public static let resourceExhausted = StatusCode(.resourceExhausted)
    public static let failedPrecondition = StatusCode(.failedPrecondition)
    public static let aborted = StatusCode(.aborted)
    public static let outOfRange = StatusCode(.outOfRange)
    public static let unimplemented = StatusCode(.unimplemented)
    public static let internalError = StatusCode(.internalError)
    public static let unavailable = StatusCode(.unavailable)
    public static let dataLoss = StatusCode(.dataLoss)
    public static let unauthenticated = StatusCode(.unauthenticated)

    /// Every code, in wire order; useful for tables that must cover them all.
    public static let allCases: [StatusCode] = (0...16).map { StatusCode(rawValue: $0) }

    /// The upper-snake-case name `google.rpc.Code` uses, such as `"INVALID_ARGUMENT"`.
    public var name: String {
        switch self.wrapped {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internalError: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }

    public var description: String {
        "\(self.name) (\(self.rawValue))"
    }
}
