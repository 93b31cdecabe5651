import NIOCore
import NIOHTTP1
import S3Signing

/// The S3 XML body and head for an error osp answers itself — the same shape S3 uses,
/// so clients surface the code and message instead of a parse failure.
public enum S3ErrorResponse {
    /// Renders `<Error><Code>…</Code><Message>…</Message><Resource>…</Resource><RequestId>…</RequestId></Error>`.
    public static func render(
        _ error: S3Error,
        resource: String,
        requestID: String,
        allocator: ByteBufferAllocator,
        keepAlive: Bool,
        isHeadRequest: Bool = false
    ) -> (head: HTTPResponseHead, body: ByteBuffer?) {
        var body = allocator.buffer(capacity: 256 + error.message.utf8.count + resource.utf8.count)
        body.writeString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>")
        body.writeString(error.code.rawValue)
        body.writeString("</Code><Message>")
        body.writeXMLEscaped(error.message)
        body.writeString("</Message><Resource>")
        body.writeXMLEscaped(resource)
        body.writeString("</Resource><RequestId>")
        body.writeString(requestID)
        body.writeString("</RequestId></Error>")

        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/xml")
        headers.add(name: "content-length", value: String(body.readableBytes))
        headers.add(name: "x-amz-request-id", value: requestID)
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(
            version: .http1_1,
            status: HTTPResponseStatus(statusCode: error.code.httpStatus),
            headers: headers
        )
        // HEAD responses carry the length of the body they would have had, but no body.
        return (head, isHeadRequest ? nil : body)
    }
}

extension ByteBuffer {
    /// Appends `text` with the five XML special characters escaped.
    mutating func writeXMLEscaped(_ text: some StringProtocol) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "<"): self.writeStaticString("&lt;")
            case UInt8(ascii: ">"): self.writeStaticString("&gt;")
            case UInt8(ascii: "&"): self.writeStaticString("&amp;")
            case UInt8(ascii: "\""): self.writeStaticString("&quot;")
            case UInt8(ascii: "'"): self.writeStaticString("&apos;")
            default: self.writeInteger(byte)
            }
        }
    }
}
