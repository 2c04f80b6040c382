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
        } catch let error as HTTPError where error.status == .notFound {
            throw GatewayError.notFound(path: request.uri.path)
        } catch let error as any HTTPResponseError {
            let message = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            throw GatewayError(status: error.status.code, type: "invalid_request_error", code: nil, message: message)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            context.logger.error("ERROR unexpected failure on \(GatewayError.clipped(request.uri.path)): \(error)")
            throw GatewayError.internalError("The gateway failed unexpectedly; see its log.")
        }
    }
}
