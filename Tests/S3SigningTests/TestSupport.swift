import Crypto
import NIOCore
import NIOHTTP1
import Testing

@testable import S3Signing

/// The example credentials every AWS signing document uses.
enum AWSExample {
    static let accessKey = "AKIAIOSFODNN7EXAMPLE"
    static let secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    /// 20130524T000000Z, the timestamp of every SigV4 example.
    static let date = AmzDate(iso8601Basic: "20130524T000000Z")!
    static let scope = "20130524/us-east-1/s3/aws4_request"
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}

func makeHeaders(_ pairs: [(String, String)]) -> HTTPHeaders {
    var headers = HTTPHeaders()
    for (name, value) in pairs {
        headers.add(name: name, value: value)
    }
    return headers
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { byte in
        let hex = String(byte, radix: 16)
        return byte < 16 ? "0" + hex : hex
    }.joined()
}

/// Runs `body` and records an issue unless it throws an `S3Error` with `code`.
@discardableResult
func expectS3Error<T>(
    _ code: S3ErrorCode, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T
) -> S3Error? {
    do {
        _ = try body()
        Issue.record("expected \(code.rawValue), but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as S3Error {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected an S3Error, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// An aws-chunked body signed on `context`'s chain, built independently of the transcoder.
func signedChunkedBody(
    _ chunks: [[UInt8]], context: ChunkSigningContext, trailer: [(String, String)]? = nil
) -> [UInt8] {
    var body: [UInt8] = []
    var previous = context.seedSignature
    for chunk in chunks + [[]] {
        let signature = context.chunkSignature(previous: previous, chunkDataHash: sha256Hex(chunk))
        body += Array("\(String(chunk.count, radix: 16));chunk-signature=\(signature)\r\n".utf8)
        if !chunk.isEmpty {
            body += chunk + Array("\r\n".utf8)
        }
        previous = signature
    }
    if let trailer {
        var canonical = ""
        for (name, value) in trailer {
            body += Array("\(name):\(value)\r\n".utf8)
            canonical += "\(name):\(value)\n"
        }
        let signature = context.trailerSignature(previous: previous, canonicalTrailer: canonical)
        body += Array("x-amz-trailer-signature:\(signature)\r\n".utf8)
    }
    body += Array("\r\n".utf8)
    return body
}

/// Feeds `body` to `transcoder` in pieces of `pieceSize` bytes; returns everything it forwarded.
func transcode(
    _ body: [UInt8], with transcoder: inout AWSChunkedTranscoder, pieceSize: Int = .max
) throws(S3Error) -> [UInt8] {
    var output = ByteBuffer()
    var offset = 0
    while offset < body.count {
        let end = min(body.count, offset + max(1, min(pieceSize, body.count)))
        var input = ByteBuffer(bytes: body[offset..<end])
        try transcoder.feed(&input, into: &output)
        offset = end
    }
    try transcoder.finish()
    return Array(output.readableBytesView)
}

/// Like `transcode`, but returns what was forwarded before the error, and the error.
func transcodeUntilError(
    _ body: [UInt8], with transcoder: inout AWSChunkedTranscoder, pieceSize: Int = .max
) -> (output: [UInt8], error: S3Error?) {
    var output = ByteBuffer()
    var offset = 0
    do {
        while offset < body.count {
            let end = min(body.count, offset + max(1, min(pieceSize, body.count)))
            var input = ByteBuffer(bytes: body[offset..<end])
            try transcoder.feed(&input, into: &output)
            offset = end
        }
        try transcoder.finish()
        return (Array(output.readableBytesView), nil)
    } catch {
        return (Array(output.readableBytesView), error)
    }
}

/// Byte equality that does not dump megabytes into the test log when it fails.
func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a == b
}
