import Foundation
@testable import JigsyncCore

/// One libFuzzer binary, four targets: `FUZZ_PROBE` names the parser (`serverAnswer`,
/// `configuration`, `inotifyEvents`, `controlRequest`); `ParserProbes` says what its input is
/// and what must hold. A violated property is a crash, which libFuzzer keeps as an artifact.
///
/// SwiftPM names every executable's entry point, so the executable has its own `main`, which
/// hands over to libFuzzer's driver; `LLVMFuzzerTestOneInput` is there for libFuzzer's `main`
/// in case the linker takes that one.
@main
enum FuzzParsers {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
    }
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

let probe: @Sendable (Data) throws(ParserProbes.ProbeFailure) -> Void = {
    let name = ProcessInfo.processInfo.environment["FUZZ_PROBE"] ?? ""
    guard let probe = ParserProbes.named(name) else {
        fatalError("FUZZ_PROBE must name a probe (\(ParserProbes.names.joined(separator: ", "))), not \"\(name)\"")
    }
    return probe
}()

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    do {
        try probe(data.map { Data(bytes: $0, count: size) } ?? Data())
    } catch {
        fatalError("\(error)")
    }
    return 0
}
