import Foundation

/// A `/v1/responses` request with the identity of the response made for it when its provider is reached by
/// translation (providers that speak the API answer with their own id).
public struct ResponsesCall: Sendable {
    public let request: ResponsesRequest
    public let responseID: String
    public let createdAt: Int

    public init(request: ResponsesRequest, responseID: String = ResponseEnvelope.makeID(), createdAt: Date = Date()) {
        self.request = request
        self.responseID = responseID
        self.createdAt = Int(createdAt.timeIntervalSince1970)
    }

    public var envelope: ResponseEnvelope {
        ResponseEnvelope(id: responseID, createdAt: createdAt, model: request.model, echo: request.responseEcho)
    }
}
