/// What is kept with a `/v1/responses` answer besides the answer itself.
struct ResponseKeeping: Sendable {
    /// Fingerprint of the gateway key that asked; only it may read or continue the response ("" on an open gateway).
    let owner: String
    /// The client's session, or the one of the response it continues; nil starts a session named for this response.
    let session: String?
    /// The full input (history included) as a JSON array, prepended when a later request continues this one.
    let input: [UInt8]
}
