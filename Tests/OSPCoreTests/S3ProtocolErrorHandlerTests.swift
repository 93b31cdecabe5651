import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import OSPCore

/// Requests the HTTP parser rejects get an S3 XML error, not NIO's bare 400.
@Suite("Malformed HTTP")
struct S3ProtocolErrorHandlerTests {
    func respond(to request: String, limits: NIOHTTPDecoderLimitConfiguration = .init()) throws -> String {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            HTTPResponseEncoder(),
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)),
            S3ProtocolErrorHandler(),
        ])
        _ = try? channel.writeInbound(ByteBuffer(string: request))
        var output = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            output += String(buffer: buffer)
        }
        _ = try? channel.finish()
        return output
    }

    @Test("Content-Length together with Transfer-Encoding (a smuggling attempt) is an S3 InvalidRequest")
    func smuggling() throws {
        let response = try respond(
            to: "PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        #expect(response.hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(response.contains("<Code>InvalidRequest</Code>"))
        #expect(response.lowercased().contains("connection: close"))
    }

    @Test("too many headers is RequestHeaderSectionTooLarge")
    func tooManyHeaders() throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldCount = 10
        let headers = (0..<20).map { "x-h\($0): v\r\n" }.joined()
        let response = try respond(to: "GET /b/k HTTP/1.1\r\nHost: x\r\n\(headers)\r\n", limits: limits)
        #expect(response.contains("<Code>RequestHeaderSectionTooLarge</Code>"))
    }

    @Test("a garbage request line is an S3 error with a request id")
    func garbage() throws {
        let response = try respond(to: "\u{1}\u{2} nonsense\r\n\r\n")
        #expect(response.contains("<Code>InvalidRequest</Code>"))
        #expect(response.contains("<RequestId>"))
        #expect(response.lowercased().contains("x-amz-request-id:"))
    }
}
