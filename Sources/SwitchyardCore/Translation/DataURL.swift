/// A base64 `data:` URL, as OpenAI clients send inline images and files (`data:image/png;base64,…`).
public struct DataURL: Equatable {
    /// The media type as written (may be empty).
    public var mediaType: String
    public var base64: String

    /// Nil when `url` is not a base64 data URL.
    public init?(_ url: String) {
        guard url.hasPrefix("data:"), let comma = url.firstIndex(of: ","), url[..<comma].hasSuffix(";base64") else {
            return nil
        }
        mediaType = String(url[url.index(url.startIndex, offsetBy: 5)..<comma].prefix { $0 != ";" })
        base64 = String(url[url.index(after: comma)...])
    }
}
