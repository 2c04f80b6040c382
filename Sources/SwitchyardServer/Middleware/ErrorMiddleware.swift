import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SwitchyardCore

/// Renders every error in a client API's shape (OpenAI's `{"error":{…}}` unless the routes speak another
/// dialect): Hummingbird's own (unknown route, body too large) and anything unexpected, which becomes a 500 without
/// internal details.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    var dialect: Dialect = .openAI

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as DialectError {
            throw error
        } catch {
            let gatewayError = gatewayError(for: error, request: request, context: context)
            if dialect == .openAI { throw gatewayError }
            throw DialectError(error: gatewayError, dialect: dialect)
        }
    }

    private func gatewayError(for error: any Error, request: Request, context: Context) -> GatewayError {
        switch error {
        case let error as GatewayError:
            return error
        case let error as HTTPError where error.status == .notFound:
            return GatewayError.notFound(path: request.uri.path)
        case let error as any HTTPResponseError:
            let message = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            return GatewayError(status: error.status.code, type: "invalid_request_error", code: nil, message: message)
        default:
            context.logger.error("ERROR unexpected failure on \(GatewayError.clipped(request.uri.path)): \(error)")
            return GatewayError.internalError("The gateway failed unexpectedly; see its log.")
        }
    }
}

/// A gateway error rendered in a dialect other than OpenAI's.
struct DialectError: HTTPResponseError {
    let error: GatewayError
    let dialect: Dialect

    var status: HTTPResponse.Status { error.status }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try error.response(from: request, context: context)
        response.body = .init(byteBuffer: ByteBuffer(bytes: dialect.errorBody(error)))
        return response
    }
}
