import Foundation
import Testing
@testable import SwitchyardCore

/// The errors the gateway answers with, and the one a failed route produces.
@Suite struct GatewayErrorTests {
    @Test func allProvidersFailedNamesTheModelAndEveryProvider() {
        let error = GatewayError.allProvidersFailed(
            model: "gpt-4o",
            attempts: [
                AttemptRecord(provider: "a", failure: .status(500, retryAfter: nil)),
                AttemptRecord(provider: "a", failure: .status(502, retryAfter: nil)),
                AttemptRecord(provider: "b", failure: .timeout),
                AttemptRecord(provider: "c", failure: .connection("connection refused")),
                AttemptRecord(provider: "d", failure: .status(429, retryAfter: 5)),
            ])
        #expect(error.statusCode == 502)
        #expect(error.type == "api_error")
        #expect(error.code == "all_providers_failed")
        #expect(
            error.message
                == "All providers for model 'gpt-4o' failed: a (500, 502); b (timeout); c (connection error); d (429).")
        #expect(error.headers == [HeaderField("x-should-retry", "false")])
    }

    @Test func allRateLimitedIs429WithTheShortestRetryAfter() {
        let error = GatewayError.allProvidersFailed(
            model: "m",
            attempts: [
                AttemptRecord(provider: "a", failure: .status(429, retryAfter: 20)),
                AttemptRecord(provider: "b", failure: .status(429, retryAfter: 3.2)),
            ])
        #expect(error.statusCode == 429)
        #expect(error.type == "rate_limit_error")
        #expect(error.code == "rate_limit_exceeded")
        #expect(error.headers == [HeaderField("retry-after", "4")])
        #expect(error.message == "All providers for model 'm' failed: a (429); b (429).")
    }

    @Test func allRateLimitedWithoutRetryAfterSaysOneSecond() {
        let error = GatewayError.allProvidersFailed(
            model: "m", attempts: [AttemptRecord(provider: "a", failure: .status(429, retryAfter: nil))])
        #expect(error.statusCode == 429)
        #expect(error.headers == [HeaderField("retry-after", "1")])
    }

    @Test func noAvailableProviderExplainsWhy() {
        let now = Date(timeIntervalSince1970: 0)
        var config = ProviderConfig(name: "a")
        config.model = "m"
        var otherConfig = ProviderConfig(name: "b")
        otherConfig.model = "m"
        let route = ModelRoute(ModelConfig(name: "m", providers: [config, otherConfig]))
        let provider = route.providers[0]
        let other = route.providers[1]
        let cooling = GatewayError.noAvailableProvider(
            model: "m", skipped: [(provider, .coolingDown(until: now.addingTimeInterval(12.2)))], now: now)
        #expect(cooling.statusCode == 503)
        #expect(cooling.code == "no_available_provider")
        #expect(cooling.message == "Every provider of model 'm' is unavailable: a (cooling down for 13s).")
        #expect(cooling.headers == [HeaderField("retry-after", "13")])
        let quota = GatewayError.noAvailableProvider(
            model: "m",
            skipped: [(provider, .overQuota(until: now.addingTimeInterval(3600))), (other, .coolingDown(until: now.addingTimeInterval(60)))],
            now: now)
        #expect(quota.statusCode == 429)
        #expect(quota.code == "quota_exceeded")
        #expect(quota.headers == [HeaderField("retry-after", "60")])
        #expect(quota.message == "Every provider of model 'm' is unavailable: a (quota exhausted, resets in 3600s); b (cooling down for 60s).")
        let small = GatewayError.noAvailableProvider(
            model: "m",
            skipped: [(provider, .contextTooSmall(needed: 9000, limit: 8192)), (other, .cannotServe(api: "Gemini"))], now: now)
        #expect(small.statusCode == 400)
        #expect(small.code == "context_length_exceeded")
        #expect(small.message.hasPrefix("No provider of model 'm' has a context large enough for this request: a (context of 8192 tokens is smaller than the request's estimated 9000)"))
        let busy = GatewayError.noAvailableProvider(
            model: "m", skipped: [(provider, .contextTooSmall(needed: 9000, limit: 8192)), (other, .circuitOpen(until: now.addingTimeInterval(5)))],
            now: now)
        #expect(busy.statusCode == 503, "another provider could serve it later")
        #expect(busy.message.hasSuffix("b (circuit open for 5s)."))
        let none = GatewayError.noAvailableProvider(model: "m", skipped: [], now: now)
        #expect(none.statusCode == 503)
        #expect(none.message == "Model 'm' has no enabled providers.")
    }

    @Test func bodyIsTheOpenAIErrorShape() {
        let error = GatewayError.invalidJSON("unexpected end of JSON at byte 3")
        #expect(
            text(error.body)
                == #"{"error":{"message":"We could not parse the JSON body of your request (unexpected end of JSON at byte 3). The body must be a JSON object.","type":"invalid_request_error","param":null,"code":"invalid_json"}}"#
        )
        let withoutCode = GatewayError(status: 500, type: "api_error", code: nil, message: "boom")
        #expect(text(withoutCode.body) == #"{"error":{"message":"boom","type":"api_error","param":null,"code":null}}"#)
        let withParam = GatewayError.missingParameter("model")
        #expect(
            text(withParam.body)
                == #"{"error":{"message":"Missing required parameter: 'model'.","type":"invalid_request_error","param":"model","code":"missing_required_parameter"}}"#
        )
    }

    @Test func bodyEscapesTheMessage() {
        let error = GatewayError(status: 502, type: "api_error", code: "x", message: "said \"no\"\n\\ \u{4f60}")
        #expect(text(error.body) == "{\"error\":{\"message\":\"said \\\"no\\\"\\n\\\\ \u{4f60}\",\"type\":\"api_error\",\"param\":null,\"code\":\"x\"}}")
        let parsed = jsonObject(error.body)?["error"] as? [String: Any]
        #expect(parsed?["message"] as? String == "said \"no\"\n\\ \u{4f60}")
    }

    @Test func sseEventCarriesTheBody() {
        let error = GatewayError.internalError("x")
        #expect(text(error.sseEvent) == "data: " + text(error.body) + "\n\n")
    }

    @Test func namedErrorsHaveTheirStatuses() {
        #expect(GatewayError.modelNotFound("m").statusCode == 404)
        #expect(GatewayError.modelNotFound("m").code == "model_not_found")
        #expect(GatewayError.unauthorized("no").statusCode == 401)
        #expect(GatewayError.payloadTooLarge(limit: 10).statusCode == 413)
        #expect(GatewayError.notFound(path: "/x").statusCode == 404)
        #expect(GatewayError.methodNotAllowed(method: "GET", path: "/v1/chat/completions").statusCode == 405)
        #expect(GatewayError.internalError("x").statusCode == 500)
        #expect(GatewayError.missingParameter("model").description == "400 missing_required_parameter: Missing required parameter: 'model'.")
    }
}
