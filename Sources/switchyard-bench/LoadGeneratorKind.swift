/// Which program sent a measurement's load: wrk, or the benchmark's own SwiftNIO generator.
enum LoadGeneratorKind: String, Codable, Sendable {
    case wrk, nio
}
