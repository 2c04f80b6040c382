import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `Tests/e2e/test_proxy.py` running beside the test: an HTTP (or SOCKS5) outbound proxy on 127.0.0.1 that
/// records what it carried.
final class TestProxy: @unchecked Sendable {
    struct Carried: Equatable {
        var method: String
        var target: String
        var proxyAuthorization: String?
    }

    let port: Int
    private let process: Process
    private let log: URL

    init(auth: String? = nil, socks5: Bool = false) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-\(UUID().uuidString).log")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", ShippedConfigTests.repositoryRoot.appendingPathComponent("Tests/e2e/test_proxy.py").path, "--log", log.path]
            + (auth.map { ["--auth", $0] } ?? []) + (socks5 ? ["--socks5"] : [])
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        // The first line is the port it listens on.
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            process.terminate()
            throw ProxyDidNotStart()
        }
        self.port = port
    }

    struct ProxyDidNotStart: Error {}

    func url(auth: String? = nil) -> String {
        "http://\(auth.map { "\($0)@" } ?? "")127.0.0.1:\(port)"
    }

    var carried: [Carried] {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let entry = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { return nil }
            return Carried(
                method: entry["method"] as? String ?? "", target: entry["target"] as? String ?? "",
                proxyAuthorization: entry["proxy_authorization"] as? String
            )
        }
    }

    func stop() {
        // SIGKILL: the test process blocks SIGTERM (service lifecycle handles it), and its children inherit that.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: log)
    }
}
