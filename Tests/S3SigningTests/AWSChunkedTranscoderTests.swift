import Crypto
import NIOCore
import Testing

@testable import S3Signing

@Suite("aws-chunked transcoder")
struct AWSChunkedTranscoderTests {
    let date = AmzDate(iso8601Basic: "20261129T220216Z")!
    let cache = SigningKeyCache()

    func context(secret: String, seed: String) -> ChunkSigningContext {
        SigV4Signer(accessKey: "AK", secretKey: secret, region: "us-east-1", keyCache: cache)
            .chunkSigningContext(seedSignature: seed, date: date)
    }
    var client: ChunkSigningContext { context(secret: "client-secret", seed: String(repeating: "1", count: 64)) }
    var backend: ChunkSigningContext { context(secret: "backend-secret", seed: String(repeating: "2", count: 64)) }

    let chunks: [[UInt8]] = [
        [UInt8](repeating: 0x41, count: 8192), (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }, Array("tail".utf8),
    ]
    var dataLength: Int64 { Int64(chunks.reduce(0) { $0 + $1.count }) }

    @Test("re-signing keeps every size and byte of data, so the length is unchanged, and the result verifies on the backend chain")
    func resign() throws {
        let body = signedChunkedBody(chunks, context: client)
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: backend, decodedContentLength: dataLength)
        let output = try transcode(body, with: &transcoder, pieceSize: 1000)
        #expect(output.count == body.count)
        #expect(!sameBytes(output, body))
        #expect(sameBytes(output, signedChunkedBody(chunks, context: backend)))

        // The backend's view: the re-signed body verifies against the backend chain, and not the client's.
        var backendCheck = AWSChunkedTranscoder(mode: .streamingSigned, verifying: backend, resigningWith: nil, decodedContentLength: dataLength)
        #expect(sameBytes(try transcode(output, with: &backendCheck), output))
        var clientCheck = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: nil, decodedContentLength: dataLength)
        #expect(transcodeUntilError(output, with: &clientCheck).error?.code == .signatureDoesNotMatch)
    }

    @Test("feeding one byte at a time gives exactly the bytes feeding it whole gives", arguments: [1, 2, 3, 7, 4096])
    func pieceSizes(pieceSize: Int) throws {
        let body = signedChunkedBody(chunks, context: client, trailer: [("x-amz-checksum-crc32", "AAAAAA==")])
        var whole = AWSChunkedTranscoder(mode: .streamingSignedTrailer, verifying: client, resigningWith: backend, decodedContentLength: dataLength)
        var pieces = AWSChunkedTranscoder(mode: .streamingSignedTrailer, verifying: client, resigningWith: backend, decodedContentLength: dataLength)
        let expected = try transcode(body, with: &whole)
        #expect(sameBytes(try transcode(body, with: &pieces, pieceSize: pieceSize), expected))
    }

    @Test("a signed trailer is verified and re-signed on the backend chain")
    func signedTrailer() throws {
        let trailer = [("x-amz-checksum-crc32c", "sOO8/Q==")]
        let body = signedChunkedBody(chunks, context: client, trailer: trailer)
        var transcoder = AWSChunkedTranscoder(mode: .streamingSignedTrailer, verifying: client, resigningWith: backend, decodedContentLength: dataLength)
        let output = try transcode(body, with: &transcoder)
        #expect(output.count == body.count)
        #expect(sameBytes(output, signedChunkedBody(chunks, context: backend, trailer: trailer)))
    }

    /// Found by fuzzing (integration/fuzz/regressions/aws-chunked/trailer-signature-spacing): the
    /// signature line was re-written without the client's spaces, so the body sent upstream was shorter
    /// than the Content-Length sent with it.
    @Test(
        "a trailer signature with spaces around it is re-signed in the client's layout, so the length is unchanged",
        arguments: ["x-amz-trailer-signature: ", "X-Amz-Trailer-Signature:\t ", "x-amz-trailer-signature:  "]
    )
    func trailerSignatureSpacing(spelling: String) throws {
        let trailer = [("x-amz-checksum-crc32c", "sOO8/Q==")]
        let name = Array("x-amz-trailer-signature:".utf8)
        func respelled(_ body: [UInt8]) -> [UInt8] {
            let at = body.indices.first { body[$0..<min(body.count, $0 + name.count)].elementsEqual(name) }!
            let end = body[at...].firstIndex(of: UInt8(ascii: "\r"))!
            return Array(body[..<at]) + Array(spelling.utf8) + body[(at + name.count)..<end] + Array(" \r\n\r\n".utf8)
        }
        let body = respelled(signedChunkedBody(chunks, context: client, trailer: trailer))
        var transcoder = AWSChunkedTranscoder(mode: .streamingSignedTrailer, verifying: client, resigningWith: backend, decodedContentLength: dataLength)
        let output = try transcode(body, with: &transcoder)
        #expect(output.count == body.count)
        let resignedInClientLayout = sameBytes(output, respelled(signedChunkedBody(chunks, context: backend, trailer: trailer)))
        #expect(resignedInClientLayout)
    }

    @Test("a forged trailer value is refused and the trailer is not forwarded")
    func forgedTrailer() {
        var body = signedChunkedBody(chunks, context: client, trailer: [("x-amz-checksum-crc32c", "sOO8/Q==")])
        let text = Array("sOO8/Q==".utf8)
        let at = body.indices.first { body[$0..<min(body.count, $0 + text.count)].elementsEqual(text) }!
        body[at] = UInt8(ascii: "X")
        var transcoder = AWSChunkedTranscoder(mode: .streamingSignedTrailer, verifying: client, resigningWith: backend, decodedContentLength: dataLength)
        let (output, error) = transcodeUntilError(body, with: &transcoder)
        #expect(error?.code == .signatureDoesNotMatch)
        let forwarded = String(decoding: output, as: UTF8.self)
        #expect(!forwarded.contains("x-amz-checksum-crc32c"))
        #expect(output.count < at)
    }

    @Test("a chunk whose signature was forged is refused before any of it is forwarded")
    func forgedSignature() {
        let body = signedChunkedBody(chunks, context: backend)  // signed with the wrong key
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: backend, decodedContentLength: dataLength)
        let (output, error) = transcodeUntilError(body, with: &transcoder, pieceSize: 100)
        #expect(error?.code == .signatureDoesNotMatch)
        #expect(output.isEmpty)
        // Once failed, it stays failed.
        var more = ByteBuffer(string: "0;chunk-signature=")
        var sink = ByteBuffer()
        #expect(throws: S3Error.self) { try transcoder.feed(&more, into: &sink) }
    }

    @Test("chunks reordered (each validly signed, but out of chain) are refused")
    func reordered() {
        let reordered = signedChunkedBody([chunks[1], chunks[0], chunks[2]], context: client)
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: backend, decodedContentLength: nil)
        let good = signedChunkedBody(chunks, context: client)
        // The first frame of the good chain, then the rest of another (validly signed) chain:
        // its next chunk is signed over a different previous signature.
        func frameLength(_ chunk: [UInt8]) -> Int {
            "\(String(chunk.count, radix: 16));chunk-signature=".utf8.count + 64 + 2 + chunk.count + 2
        }
        let spliced = Array(good[..<frameLength(chunks[0])]) + Array(reordered[frameLength(chunks[1])...])
        let (_, error) = transcodeUntilError(spliced, with: &transcoder)
        #expect(error?.code == .signatureDoesNotMatch)
    }

    @Test("a body that ends before its final chunk makes finish() throw IncompleteBody")
    func truncated() throws {
        let body = signedChunkedBody(chunks, context: client)
        for cut in [0, 10, 100, body.count - 90, body.count - 1] {
            var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: backend, decodedContentLength: dataLength)
            var input = ByteBuffer(bytes: body[..<cut])
            var output = ByteBuffer()
            try transcoder.feed(&input, into: &output)
            #expect(!transcoder.isComplete)
            expectS3Error(.incompleteBody) { try transcoder.finish() }
        }
    }

    /// Found by fuzzing (integration/fuzz/regressions/aws-chunked/passthrough-finish): `finish()` of a
    /// non-streaming body that fell short threw, but left the transcoder accepting more bytes.
    @Test("a pass-through body that fell short stays refused after finish() threw")
    func passthroughShortStaysRefused() {
        var transcoder = AWSChunkedTranscoder(mode: .unsigned, verifying: nil, resigningWith: nil, decodedContentLength: 10)
        var input = ByteBuffer(bytes: Array("12345".utf8))
        var output = ByteBuffer()
        #expect(throws: Never.self) { try transcoder.feed(&input, into: &output) }
        expectS3Error(.incompleteBody) { try transcoder.finish() }
        var more = ByteBuffer(bytes: Array("67890".utf8))
        expectS3Error(.incompleteBody) { try transcoder.feed(&more, into: &output) }
        expectS3Error(.incompleteBody) { try transcoder.finish() }
        #expect(output.readableBytes == 5)
    }

    @Test("data that does not add up to x-amz-decoded-content-length is refused")
    func decodedLength() {
        let body = signedChunkedBody(chunks, context: client)
        var short = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: backend, decodedContentLength: dataLength + 1)
        #expect(transcodeUntilError(body, with: &short).error?.code == .incompleteBody)
        var long = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: backend, decodedContentLength: dataLength - 1)
        #expect(transcodeUntilError(body, with: &long).error?.code == .invalidArgument)
    }

    @Test("bytes after the end of the body are refused")
    func trailingGarbage() {
        let body = signedChunkedBody(chunks, context: client) + Array("x".utf8)
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: backend, decodedContentLength: nil)
        #expect(transcodeUntilError(body, with: &transcoder).error != nil)
    }

    @Test("a chunk larger than maxChunkSize is refused before it is buffered")
    func chunkTooLarge() {
        let body = signedChunkedBody(chunks, context: client)
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: backend, decodedContentLength: nil, maxChunkSize: 4096)
        #expect(transcodeUntilError(body, with: &transcoder).error?.code == .invalidChunkSizeError)
    }

    @Test(
        "broken framing is InvalidChunkSizeError",
        arguments: [
            "zz;chunk-signature=\(String(repeating: "0", count: 64))\r\n",
            "4;chunk-signature=abc\r\n",
            "4;chunk-signature=\(String(repeating: "0", count: 64))\n",
            "4\r\n",
            String(repeating: "0", count: 5000),
        ])
    func brokenFraming(body: String) {
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, resigningWith: backend, decodedContentLength: nil)
        #expect(transcodeUntilError(Array(body.utf8), with: &transcoder).error?.code == .invalidChunkSizeError)
    }

    // MARK: STREAMING-UNSIGNED-PAYLOAD-TRAILER

    func unsignedTrailerBody(_ chunks: [[UInt8]]) -> [UInt8] {
        var body: [UInt8] = []
        for chunk in chunks {
            body += Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + Array("\r\n".utf8)
        }
        return body + Array("0\r\nx-amz-checksum-crc32:sOO8/Q==\r\n\r\n".utf8)
    }

    @Test("an unsigned-trailer body passes through byte for byte, whatever the piece size", arguments: [1, 5, 100_000])
    func unsignedTrailer(pieceSize: Int) throws {
        let body = unsignedTrailerBody(chunks)
        var transcoder = AWSChunkedTranscoder(mode: .streamingUnsignedTrailer, verifying: nil, resigningWith: nil, decodedContentLength: dataLength)
        #expect(sameBytes(try transcode(body, with: &transcoder, pieceSize: pieceSize), body))
        #expect(transcoder.isComplete)
    }

    @Test("an unsigned-trailer body is still held to its framing and decoded length")
    func unsignedTrailerChecks() {
        var wrongLength = AWSChunkedTranscoder(mode: .streamingUnsignedTrailer, verifying: nil, resigningWith: nil, decodedContentLength: dataLength + 5)
        #expect(transcodeUntilError(unsignedTrailerBody(chunks), with: &wrongLength).error?.code == .incompleteBody)
        var truncated = AWSChunkedTranscoder(mode: .streamingUnsignedTrailer, verifying: nil, resigningWith: nil, decodedContentLength: nil)
        #expect(transcodeUntilError(Array(unsignedTrailerBody(chunks).dropLast(2)), with: &truncated).error?.code == .incompleteBody)
        var badCRLF = AWSChunkedTranscoder(mode: .streamingUnsignedTrailer, verifying: nil, resigningWith: nil, decodedContentLength: nil)
        #expect(transcodeUntilError(Array("4\r\nabcdXY0\r\n\r\n".utf8), with: &badCRLF).error?.code == .invalidChunkSizeError)
    }

    @Test(
        "decoding leaves exactly the object's bytes, in every streaming mode and piece size",
        arguments: [PayloadMode.streamingSigned, .streamingSignedTrailer, .streamingUnsignedTrailer], [1, 7, 100_000]
    )
    func decoded(mode: PayloadMode, pieceSize: Int) throws {
        let trailer = [("x-amz-checksum-crc32c", "sOO8/Q==")]
        let body: [UInt8]
        switch mode {
        case .streamingSigned: body = signedChunkedBody(chunks, context: client)
        case .streamingSignedTrailer: body = signedChunkedBody(chunks, context: client, trailer: trailer)
        default: body = unsignedTrailerBody(chunks)
        }
        var transcoder = AWSChunkedTranscoder(
            mode: mode, verifying: mode.isSigned ? client : nil, output: .decoded, decodedContentLength: dataLength
        )
        let output = try transcode(body, with: &transcoder, pieceSize: pieceSize)
        #expect(sameBytes(output, chunks.flatMap { $0 }))
        #expect(transcoder.isComplete)
    }

    @Test("decoding still verifies every chunk first: a forged chunk yields none of its bytes")
    func decodedForgery() {
        var body = signedChunkedBody(chunks, context: client)
        // Flip one data byte of the second chunk: its signature no longer matches. Each header is
        // `<4 hex digits>;chunk-signature=<64>\r\n` (87 bytes) and each chunk's data ends in CRLF.
        let secondChunkData = 87 + chunks[0].count + 2 + 87 + 10
        body[secondChunkData] ^= 0xFF
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: client, output: .decoded, decodedContentLength: dataLength)
        let (output, error) = transcodeUntilError(body, with: &transcoder)
        #expect(error?.code == .signatureDoesNotMatch)
        #expect(output.count == chunks[0].count)
    }

    @Test("a signed mode without the client's context refuses to forward anything")
    func missingClientContext() {
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: nil, resigningWith: backend, decodedContentLength: nil)
        let (output, error) = transcodeUntilError(signedChunkedBody(chunks, context: client), with: &transcoder)
        #expect(error?.code == .internalError)
        #expect(output.isEmpty)
    }
}

@Suite("Signing-key cache")
struct SigningKeyCacheTests {
    @Test("keys are derived once per (secret, day, region, service) and match a fresh derivation")
    func caching() {
        let cache = SigningKeyCache(capacity: 2)
        let a = cache.signingKey(secret: "s", dateStamp: "20130524", region: "us-east-1", service: "s3")
        #expect(a == SigningKeyCache.deriveSigningKey(secret: "s", dateStamp: "20130524", region: "us-east-1", service: "s3"))
        #expect(cache.signingKey(secret: "s", dateStamp: "20130524", region: "us-east-1", service: "s3") == a)
        #expect(cache.count == 1)
        #expect(cache.signingKey(secret: "s", dateStamp: "20130525", region: "us-east-1", service: "s3") != a)
        #expect(cache.signingKey(secret: "t", dateStamp: "20130524", region: "us-east-1", service: "s3") != a)
        #expect(cache.count <= 2)
    }

    @Test("descriptions never reveal secrets")
    func noSecretsInDescriptions() {
        let cache = SigningKeyCache()
        _ = cache.signingKey(secret: "TOPSECRET", dateStamp: "20130524", region: "us-east-1", service: "s3")
        let signer = SigV4Signer(accessKey: "AK", secretKey: "TOPSECRET", sessionToken: "TOKENSECRET", region: "r", keyCache: cache)
        #expect(!String(describing: cache).contains("TOPSECRET"))
        #expect(!String(describing: signer).contains("TOPSECRET"))
        #expect(!String(describing: signer).contains("TOKENSECRET"))
    }
}
