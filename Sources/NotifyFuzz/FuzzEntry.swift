#if FUZZING
import Foundation

extension FuzzTarget {
    /// The target `NOTIFY_FUZZ_TARGET` names: libFuzzer owns the command line
    /// of a fuzz build.
    static let selected: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["NOTIFY_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget.named(name) else {
            let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
            fatalError("set NOTIFY_FUZZ_TARGET to one of \(names) (scripts/fuzz.sh does)")
        }
        return target
    }()
}

/// libFuzzer's entry point, called once per input by its driver (a build
/// with `-sanitize=fuzzer -DFUZZING`; main.swift starts the driver).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.selected.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#endif
