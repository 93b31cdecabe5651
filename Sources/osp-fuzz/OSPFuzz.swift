import Foundation

/// `osp-fuzz`: osp's parsers as fuzz targets.
///
/// Built by `integration/fuzz/run.sh` with `-DFUZZING`, ASan and libFuzzer's coverage
/// instrumentation, it is a libFuzzer binary for the target named by `OSP_FUZZ_TARGET`; libFuzzer's
/// own flags and corpus directories follow on the command line. In a normal build it replays inputs
/// (the committed corpus, found crashes) through the same entry points, so CI and a debugger can run
/// them without the fuzzing toolchain:
///
///     osp-fuzz replay TARGET FILE_OR_DIR...
///     osp-fuzz replay all DIR...        DIR/<target>/ for every target
///     osp-fuzz list
@main
enum OSPFuzz {
    static func main() {
        #if FUZZING
        guard fuzzTarget != nil else {
            FileHandle.standardError.write(Data("set OSP_FUZZ_TARGET to one of: \(FuzzTarget.names)\n".utf8))
            exit(2)
        }
        var argc = CommandLine.argc
        var argv = Optional(CommandLine.unsafeArgv)
        exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in LLVMFuzzerTestOneInput(data, size) }))
        #else
        exit(Replay.run(Array(CommandLine.arguments.dropFirst())))
        #endif
    }
}

#if FUZZING
/// The target this process fuzzes, read once from `OSP_FUZZ_TARGET`.
let fuzzTarget: FuzzTarget? = ProcessInfo.processInfo.environment["OSP_FUZZ_TARGET"].flatMap(FuzzTarget.init(rawValue:))

/// libFuzzer's entry point for one input. Declared under its C name so that the binary is also an
/// ordinary libFuzzer target for any driver that calls it.
@_cdecl("LLVMFuzzerTestOneInput")
func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    fuzzTarget?.run(input)
    return 0
}

/// libFuzzer's driver, from `libclang_rt.fuzzer_no_main`: SwiftPM gives every executable a `main`
/// of its own, so the runtime's `main` cannot be linked in (see integration/fuzz/run.sh).
@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif

/// Replays files through the fuzz entry points: a crash is a failure, as it was when fuzzing.
enum Replay {
    static let usage = """
        usage: osp-fuzz replay TARGET FILE_OR_DIR...
               osp-fuzz replay all DIR...     (DIR/<target>/ for every target)
               osp-fuzz list
        targets: \(FuzzTarget.names)

        """

    static func run(_ arguments: [String]) -> Int32 {
        switch arguments.first {
        case "list":
            for target in FuzzTarget.allCases { print(target.rawValue) }
            return 0
        case "replay" where arguments.count >= 3:
            let paths = Array(arguments.dropFirst(2))
            if arguments[1] == "all" {
                var total = 0
                for target in FuzzTarget.allCases {
                    let directories = paths.map { ($0 as NSString).appendingPathComponent(target.rawValue) }
                    guard let count = replay(target, directories.filter(isDirectory)) else { return 1 }
                    total += count
                }
                print("replayed \(total) inputs, no crash")
                return 0
            }
            guard let target = FuzzTarget(rawValue: arguments[1]) else {
                FileHandle.standardError.write(Data("unknown target '\(arguments[1])'\n\(usage)".utf8))
                return 2
            }
            guard let count = replay(target, paths) else { return 1 }
            return count > 0 ? 0 : 1
        default:
            FileHandle.standardError.write(Data(usage.utf8))
            return 2
        }
    }

    /// `OSP_FUZZ_VERBOSE=1` names each input (on unbuffered stderr) before it runs.
    static let verbose = ProcessInfo.processInfo.environment["OSP_FUZZ_VERBOSE"] != nil

    /// The number of inputs replayed, or nil if a path could not be read.
    static func replay(_ target: FuzzTarget, _ paths: [String]) -> Int? {
        var count = 0
        for path in paths {
            guard let files = files(at: path) else {
                FileHandle.standardError.write(Data("cannot read '\(path)'\n".utf8))
                return nil
            }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("cannot read '\(file)'\n".utf8))
                    return nil
                }
                // Named before it runs: if it crashes, the last line says which input did it.
                if verbose { FileHandle.standardError.write(Data("\(target.rawValue) \(file): ".utf8)) }
                let outcome = target.run(Array(data))
                if verbose { FileHandle.standardError.write(Data("\(outcome)\n".utf8)) }
                count += 1
            }
        }
        print("\(target.rawValue): \(count) inputs")
        return count
    }

    /// `path` itself, or the regular files in the directory `path`, sorted.
    static func files(at path: String) -> [String]? {
        guard isDirectory(path) else {
            return FileManager.default.isReadableFile(atPath: path) ? [path] : nil
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return nil }
        return names.sorted().filter { !$0.hasPrefix(".") }.map { (path as NSString).appendingPathComponent($0) }
            .filter { !isDirectory($0) }
    }

    static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }
}
