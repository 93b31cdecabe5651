import NIOCore
import NIOHTTP1
import S3Signing

/// Answers requests the HTTP parser rejects (malformed request lines, oversize or too many headers,
/// smuggling attempts such as `Content-Length` with `Transfer-Encoding`) with an S3 XML error instead
/// of NIO's bare `400`, then lets the decoder close the connection. Takes the place of
/// `HTTPServerProtocolErrorHandler`, with the same duties: never answer twice, never mid-response.
final class S3ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = Never
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var hasUnterminatedResponse = false
    private var requestIDs = RequestIDGenerator()

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !self.hasUnterminatedResponse {
            let rendered = S3ErrorResponse.render(
                Self.s3Error(for: parserError),
                resource: "",
                requestID: self.requestIDs.next(),
                allocator: context.channel.allocator,
                keepAlive: false
            )
            context.write(Self.wrapOutboundOut(.head(rendered.head)), promise: nil)
            if let body = rendered.body {
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head) where head.status.code < 200:
            break
        case .head:
            self.hasUnterminatedResponse = true
        case .body:
            break
        case .end:
            self.hasUnterminatedResponse = false
        }
        context.write(data, promise: promise)
    }

    static func s3Error(for error: HTTPParserError) -> S3Error {
        switch error {
        case .headerOverflow:
            return S3Error(.requestHeaderSectionTooLarge, "Your request header section exceeds the maximum allowed size.")
        case .invalidContentLength, .unexpectedContentLength:
            return S3Error(.invalidRequest, "The Content-Length header is invalid.")
        case .invalidChunkSize:
            return S3Error(.invalidRequest, "The request body framing is invalid.")
        default:
            return S3Error(.invalidRequest, "The HTTP request could not be parsed.")
        }
    }
}
