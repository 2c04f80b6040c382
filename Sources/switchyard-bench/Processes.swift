import Foundation

/// A child process of the benchmark, with the resource figures Linux keeps for it.
final class ChildProcess {
    let name: String
    let process = Process()
    private let output = Pipe()

    init(name: String, executable: String, arguments: [String], directory: URL? = nil, environment: [String: String] = [:]) throws {
        self.name = name
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { _, new in new }
        process.environment = merged
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Reads stdout until a line starting with `prefix` appears; returns the rest of that line.
    func waitForLine(startingWith prefix: String) throws -> String {
        var seen = ""
        let handle = output.fileHandleForReading
        while true {
            let data = handle.availableData
            if data.isEmpty { throw BenchError("\(name) exited before printing '\(prefix)': \(seen)") }
            seen += String(decoding: data, as: UTF8.self)
            for line in seen.split(separator: "\n") where line.hasPrefix(prefix) {
                return String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
            }
        }
    }

    func stop() {
        if process.isRunning {
            kill(pid, SIGTERM)
            process.waitUntilExit()
        }
    }
}

/// CPU and memory figures of a set of processes (nginx has a master and workers), from /proc.
struct ProcessStats {
    /// User plus system CPU seconds used so far.
    static func cpuSeconds(_ pids: [Int32]) -> Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return pids.reduce(0) { total, pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return total }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After the command name: state is field 3, utime 14 and stime 15 (1-based, counting pid and comm).
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return total }
            return total + (user + system) / ticks
        }
    }

    /// Resident memory in bytes (`VmRSS`), or its peak (`VmHWM`).
    static func memory(_ pids: [Int32], peak: Bool = false) -> Int {
        let key = peak ? "VmHWM:" : "VmRSS:"
        return pids.reduce(0) { total, pid in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
                let kilobytes = Int(line.dropFirst(key.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
            else { return total }
            return total + kilobytes * 1024
        }
    }

    /// The process and its children (nginx workers).
    static func family(of pid: Int32) -> [Int32] {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return [pid] + children.split(separator: " ").compactMap { Int32($0) }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Raises the open-files soft limit to the hard limit (children inherit it): 5,000 streams through a gateway
/// need two sockets each.
func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return Int(limit.rlim_cur)
}

/// Runs a command and returns its standard output (for `nproc`, `uname`, the CPU model).
func commandOutput(_ executable: String, _ arguments: [String]) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return "" }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
