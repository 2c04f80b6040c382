import Foundation

/// Drives request/response load with wrk, which reaches about three times the rate of the NIO generator on the
/// same machine, so the direct upstream stays well above what the proxies in front of it can do. A Lua script
/// sets the request and prints one machine-readable line from `done`, which is parsed instead of wrk's text.
struct WrkLoadGenerator: Sendable {
    var executable: String
    /// wrk's `-t`, at most the connections (wrk refuses more threads than connections).
    var threads: Int
    /// Where the script and wrk's output are written.
    var directory: URL

    /// Starts the line the Lua script prints.
    static let resultMarker = "switchyard-bench-wrk"

    static func executableOnPath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/wrk" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    var summary: String { "wrk (\(executable)) -t\(threads) --timeout 10s" }

    /// What one wrk run counted; times in microseconds, as wrk keeps them.
    struct Result: Sendable {
        var requests: Int
        var durationMicroseconds: Int
        var connectErrors: Int
        var readErrors: Int
        var writeErrors: Int
        /// Responses outside 2xx/3xx; wrk counts these in `requests` too.
        var statusErrors: Int
        var timeouts: Int
        var latencyP50Microseconds: Int
        var latencyP99Microseconds: Int
        var latencyP999Microseconds: Int

        var completed: Int { requests - statusErrors }
        var errors: Int { connectErrors + readErrors + writeErrors + statusErrors + timeouts }
        var seconds: Double { Double(durationMicroseconds) / 1e6 }

        /// Reads the script's result line out of everything wrk printed.
        init(parsing output: String) throws {
            guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix(resultMarker + " ") }) else {
                throw BenchError("wrk printed no '\(resultMarker)' line; it printed: \(output.suffix(800))")
            }
            var values: [Substring: Int] = [:]
            for pair in line.dropFirst(resultMarker.count).split(separator: " ") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { values[parts[0]] = Int(parts[1]) }
            }
            func value(_ name: String) throws -> Int {
                guard let value = values[Substring(name)], value >= 0 else {
                    throw BenchError("wrk's result line has no count \(name)=: \(line)")
                }
                return value
            }
            requests = try value("requests")
            durationMicroseconds = try value("duration_us")
            connectErrors = try value("errors_connect")
            readErrors = try value("errors_read")
            writeErrors = try value("errors_write")
            statusErrors = try value("errors_status")
            timeouts = try value("errors_timeout")
            latencyP50Microseconds = try value("latency_p50_us")
            latencyP99Microseconds = try value("latency_p99_us")
            latencyP999Microseconds = try value("latency_p999_us")
            guard durationMicroseconds > 0, statusErrors <= requests else {
                throw BenchError("wrk's result line does not add up: \(line)")
            }
        }
    }

    /// One run of `seconds` (rounded up to whole seconds, all wrk takes) on `connections` keep-alive connections.
    func run(_ request: RequestTemplate, connections: Int, seconds: Double) async throws -> Result {
        let script = directory.appendingPathComponent("wrk-request.lua")
        try Self.script(body: request.body).write(to: script, atomically: true, encoding: .utf8)
        let outputFile = directory.appendingPathComponent("wrk-stdout.txt")
        let errorFile = directory.appendingPathComponent("wrk-stderr.txt")
        for file in [outputFile, errorFile] {
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw BenchError("cannot create \(file.path)")
            }
        }
        let output = try FileHandle(forWritingTo: outputFile)
        defer { try? output.close() }
        let errorOutput = try FileHandle(forWritingTo: errorFile)
        defer { try? errorOutput.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "-t\(min(threads, connections))", "-c\(connections)", "-d\(max(1, Int(seconds.rounded(.up))))s",
            "--timeout", "10s", "-s", script.path, "http://\(request.host):\(request.port)\(request.path)",
        ]
        // Files rather than pipes, so nothing blocks on a full pipe while wrk runs.
        process.standardOutput = output
        process.standardError = errorOutput
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
            }
        }
        let printed = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            let complaint = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            throw BenchError("wrk exited with status \(process.terminationStatus): \(complaint)\(printed.suffix(800))")
        }
        return try Result(parsing: printed)
    }

    /// POST of `body` as JSON (wrk adds Host and Content-Length), and the result line in `done`.
    static func script(body: String) -> String {
        """
        wrk.method = "POST"
        wrk.body = \(luaStringLiteral(body))
        wrk.headers["Content-Type"] = "application/json"

        function done(summary, latency, requests)
          local errors = summary.errors
          io.write(string.format(
            "\(resultMarker) requests=%d duration_us=%d errors_connect=%d errors_read=%d errors_write=%d " ..
            "errors_status=%d errors_timeout=%d latency_p50_us=%d latency_p99_us=%d latency_p999_us=%d\\n",
            summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status,
            errors.timeout, latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
        end

        """
    }

    /// A double-quoted Lua string of `text`: quotes and backslashes escaped, control bytes as three-digit `\ddd` (so
    /// a digit after one is not read as part of it).
    static func luaStringLiteral(_ text: String) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes += [UInt8(ascii: "\\"), byte]
            case 0..<0x20, 0x7F:
                bytes += Array(String(format: "\\%03d", Int32(byte)).utf8)
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        return String(decoding: bytes, as: UTF8.self)
    }
}
