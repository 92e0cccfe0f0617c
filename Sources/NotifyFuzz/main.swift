import Foundation

#if FUZZING
import CLibFuzzer
#endif

// notify-fuzz: the fuzz targets of notify (see fuzz/README.md).
//
// Built normally (the test build), it replays inputs through a target:
//   notify-fuzz list
//   notify-fuzz replay ROOT              every file of ROOT/{corpus,regressions}/<target>/
//   notify-fuzz TARGET FILE|DIR...       those inputs
//   notify-fuzz seeds DIR                writes the codec-made seeds into DIR/<target>/
// Built with -sanitize=fuzzer -DFUZZING (scripts/fuzz.sh), it hands its
// arguments to libFuzzer, which runs the target NOTIFY_FUZZ_TARGET names:
//   NOTIFY_FUZZ_TARGET=TARGET notify-fuzz [libFuzzer flags] [CORPUS_DIR...]

func usage() -> Never {
    let names = FuzzTarget.all.map(\.name).joined(separator: "|")
    FileHandle.standardError.write(Data("""
        usage: notify-fuzz list
               notify-fuzz replay ROOT
               notify-fuzz seeds DIR
               notify-fuzz (\(names)) FILE|DIR...

        """.utf8))
    exit(64)
}

/// Runs `target` on every file of `paths` (folders are read one level deep);
/// returns how many inputs ran.
func replay(_ target: FuzzTarget, _ paths: [String]) -> Int {
    var files: [String] = []
    for path in paths {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files += names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
        } else {
            files.append(path)
        }
    }
    for file in files {
        guard let data = FileManager.default.contents(atPath: file) else {
            FileHandle.standardError.write(Data("notify-fuzz: cannot read \(file)\n".utf8))
            exit(1)
        }
        // Printed before running, so that a crash names its input.
        print("\(target.name): \(file)")
        data.withUnsafeBytes { target.run($0) }
    }
    return files.count
}


#if FUZZING
// SwiftPM links this file's main, so libFuzzer's own main is not used: run its driver.
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv as UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
exit(LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput))
#else
let arguments = CommandLine.arguments
guard arguments.count >= 2 else { usage() }
switch arguments[1] {
case "list":
    for target in FuzzTarget.all {
        print("\(target.name)\t\(target.summary)")
    }
case "seeds":
    guard arguments.count == 3 else { usage() }
    do {
        try Seeds.write(to: URL(fileURLWithPath: arguments[2], isDirectory: true))
    } catch {
        FileHandle.standardError.write(Data("notify-fuzz: \(error)\n".utf8))
        exit(1)
    }
case "replay":
    guard arguments.count == 3 else { usage() }
    let root = arguments[2]
    for target in FuzzTarget.all {
        let count = replay(target, [root + "/corpus/" + target.name, root + "/regressions/" + target.name])
        FileHandle.standardError.write(Data("notify-fuzz: \(target.name): \(count) inputs replayed\n".utf8))
    }
case let name:
    guard let target = FuzzTarget.named(name) else { usage() }
    guard arguments.count >= 3 else { usage() }
    _ = replay(target, Array(arguments.dropFirst(2)))
}
#endif
