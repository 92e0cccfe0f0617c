import NotifyCore
import Testing

@Suite("StatusCode")
struct StatusCodeTests {
    @Test("every google.rpc.Code number maps to itself with its upper-snake name")
    func numbering() {
        let expected: [(StatusCode, UInt32, String)] = [
            (.ok, 0, "OK"), (.cancelled, 1, "CANCELLED"), (.unknown, 2, "UNKNOWN"),
            (.invalidArgument, 3, "INVALID_ARGUMENT"), (.deadlineExceeded, 4, "DEADLINE_EXCEEDED"),
            (.notFound, 5, "NOT_FOUND"), (.alreadyExists, 6, "ALREADY_EXISTS"),
            (.permissionDenied, 7, "PERMISSION_DENIED"), (.resourceExhausted, 8, "RESOURCE_EXHAUSTED"),
            (.failedPrecondition, 9, "FAILED_PRECONDITION"), (.aborted, 10, "ABORTED"),
            (.outOfRange, 11, "OUT_OF_RANGE"), (.unimplemented, 12, "UNIMPLEMENTED"),
            (.internalError, 13, "INTERNAL"), (.unavailable, 14, "UNAVAILABLE"), (.dataLoss, 15, "DATA_LOSS"),
            (.unauthenticated, 16, "UNAUTHENTICATED"),
        ]
        for (code, number, name) in expected {
            #expect(code.rawValue == number)
            #expect(StatusCode(rawValue: number) == code)
            #expect(code.name == name)
        }
        #expect(StatusCode.allCases == expected.map(\.0))
        #expect(StatusCode.invalidArgument.description == "INVALID_ARGUMENT (3)")
    }

    @Test("unknown numbers become UNKNOWN", arguments: [UInt32(17), 100, .max])
    func unknownNumbers(number: UInt32) {
        #expect(StatusCode(rawValue: number) == .unknown)
    }
}
