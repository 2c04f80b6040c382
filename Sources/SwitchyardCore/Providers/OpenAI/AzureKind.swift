import Foundation
import NIOCore

/// Azure OpenAI (`type: azure`): endpoint `https://<resource>.openai.azure.com/openai`, requests to
/// `<endpoint>/deployments/<deployment>/chat/completions?api-version=<api_version>` with an `api-key` header.
/// Azure's chunks that carry only prompt-filter results are not forwarded.
public struct AzureKind: ProviderKind {
    public init() {}

    public var name: String { "azure" }
    public var nativeDialect: Dialect? { .openAI }
    public static let defaultAPIVersion = "2024-10-21"

    public var settings: [ProviderSetting] {
        [
            ProviderSetting("deployment", default: { $0.model }, problem: Self.pathSegmentProblem),
            ProviderSetting("api_version", default: { _ in Self.defaultAPIVersion }, problem: Self.pathSegmentProblem),
        ]
    }

    /// Deployment names and API versions go into the URL as they are.
    static func pathSegmentProblem(_ value: String) -> String? {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        if value.isEmpty { return "must not be empty" }
        return value.unicodeScalars.allSatisfy(allowed.contains) ? nil : "may contain only letters, digits, '-', '_' and '.'"
    }

    public func makeRequest(
        _ request: InboundRequest, provider: ProviderConfig, credential: String, upstreamStream: Bool,
        clientHeaders: [HeaderField]
    ) throws(GatewayError) -> UpstreamRequest {
        let canonical = try request.requireCanonical(by: name)
        let deployment = provider.settings["deployment"] ?? provider.model
        let version = provider.settings["api_version"] ?? Self.defaultAPIVersion
        return UpstreamRequest(
            url: "\(provider.endpoint)/deployments/\(deployment)\(canonical.endpoint.upstreamPath)?api-version=\(version)",
            headers: HeaderForwarding.upstreamHeaders(
                clientHeaders, stream: upstreamStream,
                credential: credential.isEmpty ? nil : HeaderField("api-key", credential), provider: provider
            ),
            body: canonical.upstreamBody(provider: provider, stream: upstreamStream),
            endpoint: canonical.endpoint,
            stream: upstreamStream
        )
    }

    public func streamDecoder(for request: InboundRequest, provider: ProviderConfig) -> any UpstreamStreamDecoder {
        OpenAIStreamDecoder(dropsChunksWithoutChoices: true)
    }

    public func passThroughStream(for request: InboundRequest) -> any StreamTranslator {
        OpenAIPassThrough(clientWantsUsage: request.clientWantsUsage, dropsPromptFilterChunks: true)
    }
}
