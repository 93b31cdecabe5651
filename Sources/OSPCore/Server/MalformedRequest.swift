import NIOHTTP1
import S3Signing

extension S3Error {
    /// The S3 error for a request the HTTP parser rejects — malformed request lines, oversize or
    /// too many headers, smuggling attempts such as `Content-Length` with `Transfer-Encoding` —
    /// so the client reads an S3 XML error instead of NIO's bare `400`.
    init(malformedRequest error: HTTPParserError) {
        switch error {
        case .headerOverflow:
            self.init(.requestHeaderSectionTooLarge, "Your request header section exceeds the maximum allowed size.")
        case .invalidContentLength, .unexpectedContentLength:
            self.init(.invalidRequest, "The Content-Length header is invalid.")
        case .invalidChunkSize:
            self.init(.invalidRequest, "The request body framing is invalid.")
        default:
            self.init(.invalidRequest, "The HTTP request could not be parsed.")
        }
    }
}
