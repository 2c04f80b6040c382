import Hummingbird
import SwitchyardCore

/// Starts a trace for each OpenAI request and finishes it with the final status (a committed stream is finished
/// by its relay instead, when it ends).
struct RequestTracingMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let recorder: RequestRecorder

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let trace = RequestTrace(
            id: context.requestID, method: request.method.rawValue, path: request.uri.path,
            clientKey: KeyCheck.presentedKey(in: request.headers)
        )
        recorder.started(trace)
        var context = context
        context.trace = trace
        do {
            let response = try await next(request, context)
            if !trace.isRelaying {
                recorder.finish(trace, status: response.status.code)
            }
            return response
        } catch {
            recorder.finish(trace, status: (error as? any HTTPResponseError)?.status.code ?? 500)
            throw error
        }
    }
}
