import ArgumentParser
import Foundation

/// `--load-generator`: what drives the request/response scenarios. Streams, holds and start-up always use the NIO
/// generator, since wrk cannot time the first bytes of each stream.
enum LoadGeneratorChoice: String, ExpressibleByArgument, CaseIterable {
    /// wrk when it is on PATH, else NIO.
    case auto
    case wrk
    case nio

    /// The wrk generator this choice means, or nil for NIO throughout.
    func wrkGenerator(threads: Int, directory: URL) throws -> WrkLoadGenerator? {
        switch self {
        case .nio:
            return nil
        case .auto:
            return WrkLoadGenerator.executableOnPath().map {
                WrkLoadGenerator(executable: $0, threads: threads, directory: directory)
            }
        case .wrk:
            guard let executable = WrkLoadGenerator.executableOnPath() else {
                throw BenchError("--load-generator wrk, but there is no wrk on PATH (apt-get install wrk)")
            }
            return WrkLoadGenerator(executable: executable, threads: threads, directory: directory)
        }
    }
}
