import NIOCore

/// A request ready to send to a provider.
public struct UpstreamRequest: Sendable {
    public var url: String
    public var headers: [HeaderField]
    public var body: ByteBuffer
    public var endpoint: APIEndpoint
    /// Whether the upstream is asked to stream (may differ from the client's choice when converting).
    public var stream: Bool
    /// `POST` for every call but a health check's `GET`.
    public var method = "POST"

    public init(url: String, headers: [HeaderField], body: ByteBuffer, endpoint: APIEndpoint, stream: Bool) {
        self.url = url
        self.headers = headers
        self.body = body
        self.endpoint = endpoint
        self.stream = stream
    }
}
