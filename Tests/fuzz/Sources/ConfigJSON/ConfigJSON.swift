// ConfigJSON fuzzes the config loader on JSON files: the input is the file's bytes, refused unless UTF-8 as the
// loader refuses them. Invariants (checkConfigText): parsing fails only with a syntax error and validation only with
// a list of problems; a parsed tree written back as JSON reads back as the same tree, and validates to the same
// models and warnings or the same problems; and the top-level keys keep the file's order (the model list).
import Foundation
@testable import SwitchyardCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigJSON(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    if case .object(let pairs)? = checkConfigText(text, fileName: "provider.json"), let scan = try? JSONObjectScan(bytes)
    {
        var seen = Set<String>()
        let firstOccurrences = scan.members.map(\.key).filter { seen.insert($0).inserted }
        var seenParsed = Set<String>()
        let parsedOrder = pairs.map(\.key).filter { seenParsed.insert($0).inserted }
        check(parsedOrder == firstOccurrences, "top-level keys \(parsedOrder) are not in file order \(firstOccurrences)")
    }
    return 0
}
