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
// Built with -sanitize=fuzzer -DFUZZING (scripts/fuzz.sh), it is libFuzzer:
//   notify-fuzz TARGET [libFuzzer flags] [CORPUS_DIR...]

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
/// One C callback per target: libFuzzer's callback cannot capture which one runs.
let callbacks: [String: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32] = [
    "frame": { data, size in FuzzTarget.all[0].run(UnsafeRawBufferPointer(start: data, count: size)); return 0 },
    "envelope": { data, size in FuzzTarget.all[1].run(UnsafeRawBufferPointer(start: data, count: size)); return 0 },
    "metadata": { data, size in FuzzTarget.all[2].run(UnsafeRawBufferPointer(start: data, count: size)); return 0 },
    "request": { data, size in FuzzTarget.all[3].run(UnsafeRawBufferPointer(start: data, count: size)); return 0 },
    "gateway-json": { data, size in FuzzTarget.all[4].run(UnsafeRawBufferPointer(start: data, count: size)); return 0 },
    "rfc3339": { data, size in FuzzTarget.all[5].run(UnsafeRawBufferPointer(start: data, count: size)); return 0 },
]
#endif

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
    #if FUZZING
    guard let callback = callbacks[name] else { usage() }
    // libFuzzer sees argv without the target's name.
    var fuzzerArguments = [arguments[0]] + arguments.dropFirst(2)
    var argv: [UnsafeMutablePointer<CChar>?] = fuzzerArguments.map { strdup($0) } + [nil]
    var argc = Int32(fuzzerArguments.count)
    let status = argv.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var pointer = buffer.baseAddress
        return LLVMFuzzerRunDriver(&argc, &pointer, callback)
    }
    _ = fuzzerArguments.removeAll()
    exit(status)
    #else
    guard arguments.count >= 3 else { usage() }
    _ = replay(target, Array(arguments.dropFirst(2)))
    #endif
}
