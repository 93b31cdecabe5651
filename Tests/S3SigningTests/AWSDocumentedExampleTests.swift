import Crypto
import NIOCore
import NIOHTTP1
import Testing

@testable import S3Signing

/// The worked examples from the AWS S3 documentation ("Signature Calculations for the Authorization
/// Header", "Authenticating Requests: Using Query Parameters", "Transferring Payload in Multiple
/// Chunks", "Signing and Authenticating REST Requests"). The expected signatures are AWS's.
@Suite("AWS documented examples")
struct AWSDocumentedExampleTests {
    let verifier = RequestVerifier(keyCache: SigningKeyCache())

    private func verifyHeaderExample(
        method: String, target: String, headers: [(String, String)], signedHeaders: String, signature: String
    ) throws(S3Error) -> VerifiedRequest {
        let authorization = "AWS4-HMAC-SHA256 Credential=\(AWSExample.accessKey)/\(AWSExample.scope),SignedHeaders=\(signedHeaders),Signature=\(signature)"
        let request = IncomingRequest(method: method, target: target, headers: makeHeaders(headers + [("Authorization", authorization)]))
        let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
        return try verifier.verify(auth, request: request, secretKey: AWSExample.secretKey, now: AWSExample.date)
    }

    @Test("GET Object with a Range header verifies with the documented signature f0e8bdb8…")
    func getObjectWithRange() throws {
        let verified = try verifyHeaderExample(
            method: "GET", target: "/test.txt",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", AWSExample.emptySHA256), ("x-amz-date", "20130524T000000Z"),
            ],
            signedHeaders: "host;range;x-amz-content-sha256;x-amz-date",
            signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(verified.accessKey == AWSExample.accessKey)
        #expect(verified.version == .v4)
        #expect(verified.payloadMode == .signed(sha256Hex: AWSExample.emptySHA256))
        #expect(verified.chunkSigning == nil)
        #expect(!verified.isPresigned)
    }

    @Test("the documented GET example fails when one signature digit is changed")
    func getObjectWithWrongSignature() {
        expectS3Error(.signatureDoesNotMatch) {
            try verifyHeaderExample(
                method: "GET", target: "/test.txt",
                headers: [
                    ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                    ("x-amz-content-sha256", AWSExample.emptySHA256), ("x-amz-date", "20130524T000000Z"),
                ],
                signedHeaders: "host;range;x-amz-content-sha256;x-amz-date",
                signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42")
        }
    }

    @Test("PUT Object to test$file.text with Date and x-amz-date verifies with 98ad7217…")
    func putObject() throws {
        let payload = Array("Welcome to Amazon S3.".utf8)
        #expect(sha256Hex(payload) == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        #expect(SigV4Canonical.canonicalURI(rawPath: "/test$file.text") == "/test%24file.text")
        let verified = try verifyHeaderExample(
            method: "PUT", target: "/test$file.text",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", sha256Hex(payload)),
            ],
            signedHeaders: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        #expect(verified.payloadMode == .signed(sha256Hex: sha256Hex(payload)))
    }

    @Test("GET Bucket lifecycle (?lifecycle, a parameter without '=') verifies with fea454ca…")
    func getBucketLifecycle() throws {
        #expect(SigV4Canonical.canonicalQuery(rawQuery: "lifecycle") == "lifecycle=")
        _ = try verifyHeaderExample(
            method: "GET", target: "/?lifecycle",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
                ("x-amz-content-sha256", AWSExample.emptySHA256),
            ],
            signedHeaders: "host;x-amz-content-sha256;x-amz-date",
            signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test("GET Bucket (list objects) ?max-keys=2&prefix=J verifies with 34b48302…")
    func listObjects() throws {
        _ = try verifyHeaderExample(
            method: "GET", target: "/?max-keys=2&prefix=J",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
                ("x-amz-content-sha256", AWSExample.emptySHA256),
            ],
            signedHeaders: "host;x-amz-content-sha256;x-amz-date",
            signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    static let presignedQuery =
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

    @Test("the presigned GET URL verifies with aeeed9bb… within its 24 hours")
    func presignedGet() throws {
        let request = IncomingRequest(
            method: "GET", target: "/test.txt?" + Self.presignedQuery,
            headers: makeHeaders([("Host", "examplebucket.s3.amazonaws.com")]))
        let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
        guard case .sigV4Query(let query) = auth else {
            Issue.record("expected presigned query authentication, got \(auth)")
            return
        }
        #expect(query.expiresSeconds == 86400)
        #expect(query.scope == AWSExample.scope)
        let now = AmzDate(secondsSinceEpoch: AWSExample.date.secondsSinceEpoch + 3600)
        let verified = try verifier.verify(auth, request: request, secretKey: AWSExample.secretKey, now: now)
        #expect(verified.isPresigned)
        #expect(verified.payloadMode == .unsigned)
    }

    @Test("SigV4Signer.presignedQuery reproduces the documented presigned URL")
    func signerPresignsTheDocumentedURL() {
        let signer = SigV4Signer(
            accessKey: AWSExample.accessKey, secretKey: AWSExample.secretKey, region: "us-east-1",
            keyCache: SigningKeyCache())
        let query = signer.presignedQuery(
            method: "GET", rawPath: "/test.txt", rawQuery: "", host: "examplebucket.s3.amazonaws.com",
            date: AWSExample.date, expires: 86400)
        #expect(query == Self.presignedQuery)
    }

    // MARK: Chunked upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)

    static let seedSignature = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    static let chunkSignatures = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]

    /// The request head of the 66560-byte upload; verifying it yields the client's chunk context.
    func chunkedUploadContext() throws(S3Error) -> ChunkSigningContext? {
        let verified = try verifyHeaderExample(
            method: "PUT", target: "/examplebucket/chunkObject.txt",
            headers: [
                ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "66560"),
                ("Content-Length", "66824"),
            ],
            signedHeaders: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
            signature: Self.seedSignature)
        #expect(verified.payloadMode == .streamingSigned)
        return verified.chunkSigning
    }

    /// The documented body: 64 KiB of 'a', 1 KiB of 'a', the final chunk.
    static let chunkedBody: [UInt8] = {
        var body = Array("10000;chunk-signature=\(chunkSignatures[0])\r\n".utf8)
        body += [UInt8](repeating: UInt8(ascii: "a"), count: 65536) + Array("\r\n".utf8)
        body += Array("400;chunk-signature=\(chunkSignatures[1])\r\n".utf8)
        body += [UInt8](repeating: UInt8(ascii: "a"), count: 1024) + Array("\r\n".utf8)
        body += Array("0;chunk-signature=\(chunkSignatures[2])\r\n\r\n".utf8)
        return body
    }()

    @Test("the chunked upload's seed and three chunk signatures match the documentation")
    func chunkSignatureChain() throws {
        let context = try #require(try chunkedUploadContext())
        #expect(context.seedSignature == Self.seedSignature)
        #expect(context.amzDate == "20130524T000000Z")
        #expect(context.scope == AWSExample.scope)
        let first = context.chunkSignature(
            previous: Self.seedSignature, chunkDataHash: sha256Hex([UInt8](repeating: UInt8(ascii: "a"), count: 65536)))
        #expect(first == Self.chunkSignatures[0])
        let second = context.chunkSignature(
            previous: first, chunkDataHash: sha256Hex([UInt8](repeating: UInt8(ascii: "a"), count: 1024)))
        #expect(second == Self.chunkSignatures[1])
        let last = context.chunkSignature(previous: second, chunkDataHash: AWSExample.emptySHA256)
        #expect(last == Self.chunkSignatures[2])
    }

    @Test("the documented body is 66824 bytes and passes the transcoder unchanged when both chains are the client's")
    func transcoderReproducesTheDocumentedBody() throws {
        #expect(Self.chunkedBody.count == 66824)
        let context = try #require(try chunkedUploadContext())
        var transcoder = AWSChunkedTranscoder(
            mode: .streamingSigned, verifying: context, resigningWith: context, decodedContentLength: 66560)
        let output = try transcode(Self.chunkedBody, with: &transcoder)
        #expect(sameBytes(output, Self.chunkedBody))
        #expect(transcoder.isComplete)
    }

    @Test("the documented body fed one byte at a time gives the same bytes as fed whole")
    func transcoderBytewise() throws {
        let context = try #require(try chunkedUploadContext())
        var whole = AWSChunkedTranscoder(mode: .streamingSigned, verifying: context, resigningWith: context, decodedContentLength: 66560)
        var bytewise = AWSChunkedTranscoder(mode: .streamingSigned, verifying: context, resigningWith: context, decodedContentLength: 66560)
        let expected = try transcode(Self.chunkedBody, with: &whole)
        let output = try transcode(Self.chunkedBody, with: &bytewise, pieceSize: 1)
        #expect(sameBytes(output, expected))
    }

    @Test("a data byte changed in the first chunk is refused before any of it is forwarded")
    func forgedFirstChunk() throws {
        let context = try #require(try chunkedUploadContext())
        var body = Self.chunkedBody
        body[1000] = UInt8(ascii: "b")
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: context, resigningWith: context, decodedContentLength: 66560)
        let (output, error) = transcodeUntilError(body, with: &transcoder, pieceSize: 4096)
        #expect(error?.code == .signatureDoesNotMatch)
        #expect(output.isEmpty)
    }

    @Test("a data byte changed in the second chunk lets the first chunk through, and nothing of the second")
    func forgedSecondChunk() throws {
        let context = try #require(try chunkedUploadContext())
        var body = Self.chunkedBody
        let firstChunkFrame = "10000;chunk-signature=\(Self.chunkSignatures[0])\r\n".utf8.count + 65536 + 2
        body[firstChunkFrame + 90] = UInt8(ascii: "b")
        var transcoder = AWSChunkedTranscoder(mode: .streamingSigned, verifying: context, resigningWith: context, decodedContentLength: 66560)
        let (output, error) = transcodeUntilError(body, with: &transcoder)
        #expect(error?.code == .signatureDoesNotMatch)
        #expect(output.count == firstChunkFrame)
        #expect(sameBytes(output, Array(Self.chunkedBody[..<firstChunkFrame])))
    }

    // MARK: SigV2 ("Signing and Authenticating REST Requests")

    @Test("SigV2 GET /johnsmith/photos/puppy.jpg verifies with bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
    func sigV2Get() throws {
        let request = IncomingRequest(
            method: "GET", target: "/photos/puppy.jpg",
            headers: makeHeaders([
                ("Host", "johnsmith.s3.amazonaws.com"), ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
                ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
            ]))
        let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
        #expect(auth == .sigV2Header(accessKey: AWSExample.accessKey, signature: "bWq2s1WEIj+Ydj0vQ697zp+IXMU="))
        let now = try #require(AmzDate(rfc1123: "Tue, 27 Mar 2007 19:40:00 +0000"))
        let verified = try verifier.verify(
            auth, request: request, secretKey: AWSExample.secretKey, now: now,
            sigV2ResourcePath: "/johnsmith/photos/puppy.jpg")
        #expect(verified.version == .v2)
        #expect(verified.payloadMode == .unsigned)
        expectS3Error(.signatureDoesNotMatch) {
            try verifier.verify(auth, request: request, secretKey: AWSExample.secretKey, now: now, sigV2ResourcePath: "/johnsmith/photos/puppy.png")
        }
    }

    @Test("SigV2 PUT with Content-Type verifies with MyyxeRY7whkBe+bq8fHCL/2kKUg=")
    func sigV2Put() throws {
        let request = IncomingRequest(
            method: "PUT", target: "/johnsmith/photos/puppy.jpg",
            headers: makeHeaders([
                ("Host", "s3.amazonaws.com"), ("Content-Type", "image/jpeg"), ("Content-Length", "94328"),
                ("Date", "Tue, 27 Mar 2007 21:15:45 +0000"),
                ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:MyyxeRY7whkBe+bq8fHCL/2kKUg="),
            ]))
        let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
        let now = try #require(AmzDate(rfc1123: "Tue, 27 Mar 2007 21:15:45 GMT"))
        _ = try verifier.verify(auth, request: request, secretKey: AWSExample.secretKey, now: now)
    }

    @Test("SigV2 query authentication verifies with Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D until Expires")
    func sigV2Query() throws {
        let request = IncomingRequest(
            method: "GET",
            target: "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D",
            headers: makeHeaders([("Host", "johnsmith.s3.amazonaws.com")]))
        let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
        #expect(auth == .sigV2Query(accessKey: AWSExample.accessKey, signature: "NpgCjnDzrM+WFzoENXmpNDUsSn8=", expires: 1175139620))
        let verified = try verifier.verify(
            auth, request: request, secretKey: AWSExample.secretKey, now: AmzDate(secondsSinceEpoch: 1175139000),
            sigV2ResourcePath: "/johnsmith/photos/puppy.jpg")
        #expect(verified.isPresigned)
        let error = expectS3Error(.accessDenied) {
            try verifier.verify(
                auth, request: request, secretKey: AWSExample.secretKey, now: AmzDate(secondsSinceEpoch: 1175139621),
                sigV2ResourcePath: "/johnsmith/photos/puppy.jpg")
        }
        #expect(error?.message == "Request has expired")
    }
}
