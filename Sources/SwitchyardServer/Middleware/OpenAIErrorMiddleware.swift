import Logging
import Hummingbird
import SwitchyardCore

/// Renders every error as OpenAI's `{"error":{…}}`: Hummingbird's own (unknown route, body too large) and
/// anything unexpected, which becomes a 500 without internal details.
struct OpenAIErrorMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as GatewayError {
            throw error
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                throw GatewayError.notFound(path: request.uri.path)
            case .contentTooLarge:
                throw GatewayError.payloadTooLarge(limit: context.maxUploadSize)
            default:
                throw GatewayError(
                    status: error.status.code, type: "invalid_request_error", code: nil,
                    message: error.body ?? error.status.reasonPhrase
                )
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            context.logger.error("ERROR unexpected failure on \(request.uri.path): \(error)")
            throw GatewayError.internalError("The gateway failed unexpectedly; see its log.")
        }
    }
}
