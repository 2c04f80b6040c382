extension GatewayError {
    /// `previous_response_id` names no response this client may continue (unknown, deleted, expired or evicted).
    public static func previousResponseNotFound(_ id: String) -> GatewayError {
        GatewayError(
            status: 404, type: "invalid_request_error", code: "previous_response_not_found", param: "previous_response_id",
            message: "Previous response with id '\(clipped(id))' not found."
        )
    }

    /// `GET` / `DELETE /v1/responses/{id}` of a response this client may not see or that is gone.
    public static func responseNotFound(_ id: String) -> GatewayError {
        GatewayError(
            status: 404, type: "invalid_request_error", code: nil, message: "No response found with id '\(clipped(id))'."
        )
    }
}
