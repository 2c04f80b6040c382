import ArgumentParser
import Foundation
import Logging
import SwitchyardCore
import SwitchyardServer

@main
struct SwitchyardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "An OpenAI-compatible AI API gateway with priority/weight routing, failover and quotas.",
        version: SwitchyardVersion.current,
        subcommands: [Serve.self, Check.self, Schema.self],
        defaultSubcommand: Serve.self
    )
}

/// Settings that `serve` and `check` share.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $SWITCHYARD_CONFIG, else config/provider.json or config/provider.yaml).")
    var config: String?

    var resolvedPath: String {
        config ?? ProcessInfo.processInfo.environment["SWITCHYARD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ConfigLoader.defaultPath()
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the gateway.")

    @OptionGroup var configOption: ConfigOption

    @Option(help: "Address to listen on (default: $SWITCHYARD_HOST, else 0.0.0.0).")
    var host: String?

    @Option(help: "Port to listen on (default: $SWITCHYARD_PORT, else 6010).")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Directory for usage counters (default: data).")
    var dataDirectory: String = "data"

    @Option(name: .customLong("log-dir"), help: "Directory for gateway.log and requests.log (default: logs).")
    var logDirectory: String = "logs"

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let sink = LogSink(path: (logDirectory as NSString).appendingPathComponent("gateway.log"))
        let level = GatewayLogHandler.level(named: environment["LOG_LEVEL"]) ?? .info
        LoggingSystem.bootstrap { label in GatewayLogHandler(label: label, level: level, sink: sink) }
        let logger = Logger(label: "switchyard")

        let file = configOption.resolvedPath
        defer { sink.flush() }
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(file: file, environment: environment)
        } catch {
            logger.critical("ERROR cannot start: \(error)")
            throw ExitCode.failure
        }
        for warning in loaded.warnings {
            logger.warning("\(file): \(warning)")
        }
        let portText = environment["SWITCHYARD_PORT"].flatMap { $0.isEmpty ? nil : $0 }
        guard let port = port ?? (portText.map { Int($0) } ?? 6010) else {
            logger.critical("ERROR SWITCHYARD_PORT is not a number: \(portText ?? "")")
            throw ExitCode.failure
        }
        let options = GatewayOptions(
            host: host ?? environment["SWITCHYARD_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "0.0.0.0",
            port: port,
            configFile: file,
            dataDirectory: dataDirectory,
            logDirectory: logDirectory,
            logSink: sink
        )
        try? FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        logger.info(
            "Switchyard \(SwitchyardVersion.current) serving \(loaded.config.models.count) model(s) from \(file) on \(options.host):\(options.port)"
        )
        try await Gateway.serve(config: loaded, options: options, logger: logger)
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a config file and summarise its models.")

    @OptionGroup var configOption: ConfigOption

    func run() throws {
        let file = configOption.resolvedPath
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(file: file)
        } catch let error as ConfigValidationError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode.failure
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode.failure
        }
        for warning in loaded.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        print("\(file): OK, \(loaded.config.models.count) model(s)")
        for model in loaded.config.models {
            print(ConfigSummary.line(for: model))
        }
    }
}

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema (draft 2020-12) of the config file, as shipped in config/provider.schema.json."
    )

    func run() {
        print(ConfigSchema.text, terminator: "")
    }
}
