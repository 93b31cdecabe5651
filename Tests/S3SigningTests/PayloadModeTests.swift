import Testing

@testable import S3Signing

@Suite("PayloadMode")
struct PayloadModeTests {
    @Test("every x-amz-content-sha256 value maps to its mode and back")
    func roundTrip() throws {
        let hash = String(repeating: "0a", count: 32)
        let cases: [(String, PayloadMode, streaming: Bool, signed: Bool, trailer: Bool)] = [
            (hash, .signed(sha256Hex: hash), false, false, false),
            ("UNSIGNED-PAYLOAD", .unsigned, false, false, false),
            ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", .streamingSigned, true, true, false),
            ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", .streamingSignedTrailer, true, true, true),
            ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", .streamingUnsignedTrailer, true, false, true),
        ]
        for (value, mode, streaming, signed, trailer) in cases {
            let parsed = try PayloadMode(headerValue: value)
            #expect(parsed == mode)
            #expect(parsed.headerValue == value)
            #expect(parsed.isStreaming == streaming)
            #expect(parsed.isSigned == signed)
            #expect(parsed.hasTrailer == trailer)
        }
    }

    @Test("an uppercase hex digest is normalised to lowercase")
    func uppercaseHash() throws {
        #expect(try PayloadMode(headerValue: String(repeating: "AB", count: 32)) == .signed(sha256Hex: String(repeating: "ab", count: 32)))
    }

    @Test("anything else is InvalidArgument; SigV4a streaming is NotImplemented")
    func invalid() {
        for value in ["", "unsigned-payload", String(repeating: "a", count: 63), String(repeating: "g", count: 64)] {
            expectS3Error(.invalidArgument) { try PayloadMode(headerValue: value) }
        }
        expectS3Error(.notImplemented) { try PayloadMode(headerValue: "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") }
    }
}
