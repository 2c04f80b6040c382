import HTTPTypes
import NIOCore
import SwitchyardCore

/// A whole answer for the client: an upstream's error passed through, or the gateway's own.
struct ClientAnswer {
    var status: Int
    var headers: HTTPFields
    var body: ByteBuffer

    /// A gateway error in the client's dialect, with the headers it carries (`retry-after`).
    init(_ error: GatewayError, dialect: Dialect) {
        status = error.statusCode
        headers = [.contentType: "application/json"]
        for header in error.headers {
            if let name = HTTPField.Name(header.name) { headers.append(HTTPField(name: name, value: header.value)) }
        }
        body = ByteBuffer(bytes: dialect.errorBody(error))
    }

    init(status: Int, headers: HTTPFields, body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
