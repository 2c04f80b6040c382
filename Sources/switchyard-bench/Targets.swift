import Foundation
import NIOCore
import NIOPosix

/// What load is sent to: the upstream directly, nginx in front of it, or Switchyard in front of it.
struct Target {
    enum Kind: String, Codable {
        case direct, nginx, switchyard
    }

    var kind: Kind
    var port: Int
    /// The processes whose CPU and memory count for this target.
    var pids: [Int32]

    static func direct(port: Int, pid: Int32) -> Target { Target(kind: .direct, port: port, pids: [pid]) }
    static func nginx(port: Int, pids: [Int32]) -> Target { Target(kind: .nginx, port: port, pids: pids) }
    static func switchyard(port: Int, pid: Int32) -> Target { Target(kind: .switchyard, port: port, pids: [pid]) }

    /// The request for an upstream behaviour (`json`, `sse/20/10`, …) that the gateway serves as `model`.
    func template(upstreamPath: String, model: String, stream: Bool) -> RequestTemplate {
        let body = #"{"model":"\#(model)","messages":[{"role":"user","content":"Hello! Please answer with a short sentence."}],"stream":\#(stream)}"#
        switch kind {
        case .direct, .nginx:
            return RequestTemplate(port: port, path: "/\(upstreamPath)/v1/chat/completions", body: body)
        case .switchyard:
            return RequestTemplate(port: port, path: "/v1/chat/completions", body: body)
        }
    }
}

/// The release `switchyard` binary, configured with one model per scenario, quotas and the request log on.
enum GatewayTarget {
    struct Started {
        var process: ChildProcess
        var port: Int
    }

    static func config(upstreamPort: Int, holdSeconds: Int) -> String {
        let base = "http://127.0.0.1:\(upstreamPort)"
        // A quota on every provider, so reservation and accounting are part of what is measured.
        let quota = #""rate_limit":{"requests_per_period":1000000000,"tokens_per_period":1000000000000,"period_cron":"0 0 * * *"}"#
        func provider(_ name: String, _ path: String, extra: String = "") -> String {
            #"{"name":"\#(name)","endpoint":"\#(base)/\#(path)/v1","api_key":"upstream-key","model":"bench-model","timeout":120,\#(quota)\#(extra)}"#
        }
        let broken = provider("broken", "fail", extra: #","retry":0"#)
        let backup = provider("backup", "json", extra: #","priority":2"#)
        return #"""
            {"_global":{"log_requests":true,"retry_backoff_ms":0},
             "chat":{"providers":[\#(provider("json", "json"))]},
             "stream":{"providers":[\#(provider("sse", "sse/20/10"))]},
             "hold":{"providers":[\#(provider("slow-sse", "sse/\(holdSeconds)/1000"))]},
             "failover":{"providers":[\#(broken),\#(backup)]}}
            """#
    }

    static func start(binary: String, directory: URL, upstreamPort: Int, holdSeconds: Int) throws -> Started {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configFile = directory.appendingPathComponent("provider.json")
        try config(upstreamPort: upstreamPort, holdSeconds: holdSeconds).write(to: configFile, atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            name: "switchyard", executable: binary,
            arguments: [
                "serve", "--config", configFile.path, "--host", "127.0.0.1", "--port", "0",
                "--data-dir", directory.appendingPathComponent("data").path,
                "--log-dir", directory.appendingPathComponent("logs").path,
            ],
            environment: ["LOG_LEVEL": "info"]
        )
        let port = try waitForPort(log: directory.appendingPathComponent("logs/gateway.log"), process: process)
        return Started(process: process, port: port)
    }

    static func waitForPort(log: URL, process: ChildProcess, seconds: Int = 30) throws -> Int {
        for _ in 0..<(seconds * 100) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: "listening on 127.0.0.1:"),
                let port = Int(text[range.upperBound...].prefix { $0.isNumber })
            {
                return port
            }
            guard process.process.isRunning else { break }
            usleep(10_000)
        }
        throw BenchError("switchyard did not start")
    }

    struct Startup {
        var milliseconds: Double
        var idleRSS: Int
    }

    /// Time from exec to the first answered request on a fixed port, and the idle RSS a second later.
    static func measureStartup(binary: String, directory: URL, upstreamPort: Int) async throws -> Startup {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configFile = directory.appendingPathComponent("provider.json")
        try config(upstreamPort: upstreamPort, holdSeconds: 10).write(to: configFile, atomically: true, encoding: .utf8)
        let port = try freePort()
        let started = ContinuousClock.now
        let process = try ChildProcess(
            name: "switchyard", executable: binary,
            arguments: [
                "serve", "--config", configFile.path, "--host", "127.0.0.1", "--port", String(port),
                "--data-dir", directory.appendingPathComponent("data").path,
                "--log-dir", directory.appendingPathComponent("logs").path,
            ]
        )
        defer { process.stop() }
        while ContinuousClock.now - started < .seconds(10) {
            if healthAnswers(port: port) {
                let elapsed = ContinuousClock.now - started
                try await Task.sleep(for: .seconds(1))
                let (seconds, attoseconds) = elapsed.components
                return Startup(
                    milliseconds: Double(seconds) * 1000 + Double(attoseconds) / 1e15,
                    idleRSS: ProcessStats.memory([process.pid])
                )
            }
            usleep(500)
        }
        throw BenchError("switchyard did not answer within 10 s of starting")
    }

    /// A blocking GET /health with a plain socket (no event loop, so nothing else is measured).
    static func healthAnswers(port: Int) -> Bool {
        guard let socket = connectToLoopback(port) else { return false }
        defer { close(socket) }
        let request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(socket, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(socket, &buffer, buffer.count, 0)
        return count > 12 && String(decoding: buffer[0..<count], as: UTF8.self).hasPrefix("HTTP/1.1 200")
    }

    static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress!.port!
        try channel.close().wait()
        return port
    }
}

/// nginx as a plain reverse proxy in front of the same upstream (when installed, e.g. `apt-get install
/// nginx-light`): as many workers as cores, upstream keep-alive, no buffering, no access log.
struct NginxTarget {
    let process: ChildProcess
    let port: Int

    var pid: Int32 { process.pid }

    static func executable() -> String? {
        ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func start(executable: String, directory: URL, upstreamPort: Int) throws -> NginxTarget {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try GatewayTarget.freePort()
        let user = getuid() == 0 ? "user root;" : ""
        let config = """
            \(user)
            worker_processes auto;
            worker_rlimit_nofile 20000;
            daemon off;
            pid \(directory.path)/nginx.pid;
            error_log \(directory.path)/error.log warn;
            events { worker_connections 20000; }
            http {
                access_log off;
                keepalive_requests 100000000;
                keepalive_timeout 300s;
                client_body_temp_path \(directory.path)/body;
                proxy_temp_path \(directory.path)/proxy;
                upstream bench { server 127.0.0.1:\(upstreamPort); keepalive 512; keepalive_requests 100000000; }
                server {
                    listen 127.0.0.1:\(port) backlog=4096;
                    location / {
                        proxy_pass http://bench;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_buffering off;
                        proxy_read_timeout 300s;
                    }
                }
            }
            """
        let file = directory.appendingPathComponent("nginx.conf")
        try config.write(to: file, atomically: true, encoding: .utf8)
        let process = try ChildProcess(name: "nginx", executable: executable, arguments: ["-p", directory.path, "-c", file.path])
        for _ in 0..<500 where !GatewayTarget.portOpen(port) {
            usleep(10_000)
        }
        return NginxTarget(process: process, port: port)
    }

    func stop() {
        process.stop()
    }
}

extension GatewayTarget {
    static func portOpen(_ port: Int) -> Bool {
        guard let socket = connectToLoopback(port) else { return false }
        close(socket)
        return true
    }

    /// A blocking TCP socket connected to 127.0.0.1:`port`, or nil.
    static func connectToLoopback(_ port: Int) -> Int32? {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            return nil
        }
        return socket
    }
}
