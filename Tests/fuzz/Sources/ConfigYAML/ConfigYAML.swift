// ConfigYAML fuzzes the config loader on YAML files: the input is the file's bytes, refused unless UTF-8 as the
// loader refuses them. Invariants (checkConfigText): parsing fails only with a syntax error and validation only with
// a list of problems; a parsed tree written as JSON reads back as the same tree and validates to the same models and
// warnings or the same problems, so YAML and JSON configs mean the same.
import Foundation
@testable import SwitchyardCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigYAML(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    checkConfigText(text, fileName: "provider.yaml")
    return 0
}
