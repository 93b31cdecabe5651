import Crypto
import Foundation
import NIOCore
import S3Signing

/// The aws-chunked target. An input is an 8-byte control block and a payload:
///
///     byte 0   payload mode: 0 STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 1 …-PAYLOAD-TRAILER,
///              2 STREAMING-UNSIGNED-PAYLOAD-TRAILER, 3 UNSIGNED-PAYLOAD, 4 a SHA-256 hex,
///              5 a signed mode without the client's signing context (modulo 6)
///     byte 1   bits 0-1 output: 0 re-framed and re-signed for the backend, 1 re-framed keeping the
///              client's signatures, 2 decoded, 3 as 0; 0x04 pass x-amz-decoded-content-length;
///              0x08 a 64-byte maximum chunk size; 0x10 structured payload (below)
///     byte 2   the feeding pattern: pieces of 1 to 2^(byte % 13) bytes, from a generator seeded with it
///     byte 3   structured only, accepted spellings: 0x01 a space after `x-amz-trailer-signature:`,
///              0x02 uppercase signature hex, 0x04 uppercase size hex, 0x08 no checksum trailer line
///     bytes 4-7  x-amz-decoded-content-length, UInt32 little-endian (raw payload only)
///
/// A raw payload is the body as the client sent it. A structured payload describes chunks —
/// a length byte, then that many data bytes, repeated — and the target builds the body itself,
/// correctly signed on the client's chain, so that the fuzzer reaches past the first signature check.
/// The client's chain is the AWS documentation's chunked-upload example (its key, date, scope and seed
/// signature), so the documented body is a valid raw seed.
///
/// Properties checked besides not crashing: a refused body stays refused; a re-framed body keeps its
/// length (the request's Content-Length is forwarded unchanged); a structured body is accepted, its
/// decoded bytes are its data, and a body re-signed for the backend verifies on the backend's chain.
enum AWSChunkedFuzzing {
    static let client = ChunkSigningContext(
        signingKey: SigningKeyCache.deriveSigningKey(
            secret: AuthenticationFuzzing.secretKey, dateStamp: "20130524", region: "us-east-1", service: "s3"),
        amzDate: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request",
        seedSignature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
    static let backend = SigV4Signer(
        accessKey: "BACKENDKEY", secretKey: "backend-secret", region: "us-east-1", keyCache: AuthenticationFuzzing.keyCache
    ).chunkSigningContext(seedSignature: String(repeating: "2", count: 64), date: AuthenticationFuzzing.now)

    /// `OSP_FUZZ_DUMP=file`: write each structured body built to `file` (for `osp-fuzz replay`).
    static let dumpPath = ProcessInfo.processInfo.environment["OSP_FUZZ_DUMP"]

    static let smallMaxChunkSize = 64
    static let controlBytes = 8

    enum OutputChoice {
        case resigned, clientSignatures, decoded
    }

    struct Control {
        var mode: PayloadMode
        var hasClientContext: Bool
        var output: OutputChoice
        var passesDecodedLength: Bool
        var maxChunkSize: Int
        var isStructured: Bool
        var pieceSeed: UInt8
        var spelling: UInt8
        var decodedLength: Int64

        init(_ c: ArraySlice<UInt8>) {
            let b = Array(c) + [UInt8](repeating: 0, count: max(0, AWSChunkedFuzzing.controlBytes - c.count))
            switch b[0] % 6 {
            case 0: mode = .streamingSigned
            case 1: mode = .streamingSignedTrailer
            case 2: mode = .streamingUnsignedTrailer
            case 3: mode = .unsigned
            case 4: mode = .signed(sha256Hex: String(repeating: "a", count: 64))
            default: mode = .streamingSigned
            }
            hasClientContext = b[0] % 6 != 5
            output = [.resigned, .clientSignatures, .decoded, .resigned][Int(b[1] & 3)]
            passesDecodedLength = b[1] & 0x04 != 0
            maxChunkSize = b[1] & 0x08 != 0 ? AWSChunkedFuzzing.smallMaxChunkSize : 16 << 20
            isStructured = b[1] & 0x10 != 0
            pieceSeed = b[2]
            spelling = b[3]
            decodedLength = Int64(b[4]) | Int64(b[5]) << 8 | Int64(b[6]) << 16 | Int64(b[7]) << 24
        }

        func transcoder(decodedContentLength: Int64?) -> AWSChunkedTranscoder {
            let outputForm: AWSChunkedTranscoder.Output
            switch output {
            case .resigned: outputForm = .reframed(resigningWith: AWSChunkedFuzzing.backend)
            case .clientSignatures: outputForm = .reframed(resigningWith: nil)
            case .decoded: outputForm = .decoded
            }
            return AWSChunkedTranscoder(
                mode: mode, verifying: hasClientContext ? AWSChunkedFuzzing.client : nil, output: outputForm,
                decodedContentLength: decodedContentLength, maxChunkSize: maxChunkSize)
        }
    }

    static func run(_ input: [UInt8]) -> FuzzOutcome {
        let control = Control(input.prefix(controlBytes))
        let payload = Array(input.dropFirst(controlBytes))
        if control.isStructured {
            return runStructured(control, payload)
        }
        var transcoder = control.transcoder(decodedContentLength: control.passesDecodedLength ? control.decodedLength : nil)
        switch feed(payload, to: &transcoder, pieceSeed: control.pieceSeed) {
        case .success(let output):
            checkAccepted(control, body: payload, output: output, transcoder: transcoder)
            return .accepted("\(control.mode.headerValue), \(payload.count) bytes in, \(output.count) out")
        case .failure(let error):
            return .refused("\(error.code.rawValue) (\(error.message))")
        }
    }

    /// Feeds `body` in pieces, then finishes; after a refusal, checks that the transcoder stays failed.
    static func feed(_ body: [UInt8], to transcoder: inout AWSChunkedTranscoder, pieceSeed: UInt8) -> Result<[UInt8], S3Error> {
        var output = ByteBuffer()
        var pieces = PieceSizes(seed: pieceSeed)
        var offset = 0
        do {
            while offset < body.count {
                let end = min(body.count, offset + pieces.next())
                var piece = ByteBuffer(bytes: body[offset..<end])
                try transcoder.feed(&piece, into: &output)
                offset = end
            }
            try transcoder.finish()
            return .success(Array(output.readableBytesView))
        } catch {
            var more = ByteBuffer(bytes: [0x30])
            var ignored = ByteBuffer()
            invariant((try? transcoder.feed(&more, into: &ignored)) == nil, "a transcoder that refused (\(error)) accepted more bytes")
            invariant((try? transcoder.finish()) == nil, "a transcoder that refused (\(error)) finished")
            return .failure(error)
        }
    }

    /// What holds for every body the transcoder accepted.
    static func checkAccepted(_ control: Control, body: [UInt8], output: [UInt8], transcoder: AWSChunkedTranscoder) {
        invariant(control.hasClientContext || !control.mode.isSigned, "a signed body was accepted without the client's context")
        guard control.mode.isStreaming else {
            invariant(output == body, "a non-streaming body was changed")
            return
        }
        invariant(transcoder.isComplete, "finish() succeeded before the final chunk")
        if control.output != .decoded {
            invariant(output.count == body.count, "re-framing changed the body length from \(body.count) to \(output.count)")
        }
        if !control.mode.isSigned && control.output != .decoded {
            invariant(output == body, "an unsigned aws-chunked body was changed")
        }
    }

    // MARK: Structured payloads

    static func runStructured(_ control: Control, _ payload: [UInt8]) -> FuzzOutcome {
        var chunks: [[UInt8]] = []
        var index = payload.startIndex
        while index < payload.endIndex {
            let length = Int(payload[index])
            index += 1
            let end = min(payload.endIndex, index + length)
            // A zero-size chunk ends the body: lengths 0 (and data cut short to nothing) are skipped.
            if end > index { chunks.append(Array(payload[index..<end])) }
            index = end
        }
        let data = chunks.flatMap { $0 }
        let body: [UInt8]
        switch control.mode {
        case .signed, .unsigned: body = data
        case .streamingSigned, .streamingSignedTrailer, .streamingUnsignedTrailer:
            body = chunkedBody(chunks, mode: control.mode, spelling: control.spelling)
        }
        if let path = dumpPath {
            // To look at a finding: the body the target built, as the transcoder received it.
            _ = FileManager.default.createFile(atPath: path, contents: Data(body))
        }
        var transcoder = control.transcoder(decodedContentLength: control.passesDecodedLength ? Int64(data.count) : nil)
        let result = feed(body, to: &transcoder, pieceSeed: control.pieceSeed)

        let tooLarge = control.mode.isSigned && chunks.contains { $0.count > control.maxChunkSize }
        guard control.hasClientContext, !tooLarge else {
            if case .success = result { invariant(!control.mode.isSigned, "a body the transcoder must refuse was accepted") }
            return .refused("structured body without a client context or with too large a chunk")
        }
        let output: [UInt8]
        switch result {
        case .success(let accepted): output = accepted
        case .failure(let error):
            invariant(false, "a well-formed \(control.mode.headerValue) body of \(chunks.count) chunks was refused: \(error)")
            return .refused(error.code.rawValue)
        }
        checkAccepted(control, body: body, output: output, transcoder: transcoder)
        let outcome = FuzzOutcome.accepted("structured \(control.mode.headerValue), \(chunks.count) chunks, \(body.count) bytes in, \(output.count) out")
        guard control.mode.isStreaming else { return outcome }
        switch control.output {
        case .decoded:
            invariant(output == data, "decoding gave other bytes than the chunks' data")
        case .clientSignatures:
            break
        case .resigned:
            guard control.mode.isSigned else { break }
            // The backend's view: the re-signed body verifies on the backend's chain.
            var check = AWSChunkedTranscoder(
                mode: control.mode, verifying: backend, output: .decoded, decodedContentLength: Int64(data.count))
            switch feed(output, to: &check, pieceSeed: 0) {
            case .success(let decoded): invariant(decoded == data, "the re-signed body decodes to other bytes")
            case .failure(let error): invariant(false, "the re-signed body does not verify on the backend chain: \(error)")
            }
        }
        return outcome
    }

    /// A body the way the AWS SDKs write it, signed on `client`'s chain for the signed modes.
    static func chunkedBody(_ chunks: [[UInt8]], mode: PayloadMode, spelling: UInt8) -> [UInt8] {
        func hexSize(_ count: Int) -> String {
            let hex = String(count, radix: 16)
            return spelling & 0x04 != 0 ? hex.uppercased() : hex
        }
        func signature(_ hex: String) -> String { spelling & 0x02 != 0 ? hex.uppercased() : hex }

        var body: [UInt8] = []
        var previous = client.seedSignature
        for chunk in chunks + [[]] {
            body += Array(hexSize(chunk.count).utf8)
            if mode.isSigned {
                previous = client.chunkSignature(previous: previous, chunkDataHash: sha256Hex(chunk))
                body += Array(";chunk-signature=\(signature(previous))".utf8)
            }
            body += Array("\r\n".utf8)
            if !chunk.isEmpty {
                body += chunk + Array("\r\n".utf8)
            }
        }
        if mode.hasTrailer {
            var canonical = ""
            if spelling & 0x08 == 0 {
                body += Array("x-amz-checksum-crc32:AAAAAA==\r\n".utf8)
                canonical += "x-amz-checksum-crc32:AAAAAA==\n"
            }
            if mode.isSigned {
                let trailerSignature = client.trailerSignature(previous: previous, canonicalTrailer: canonical)
                let separator = spelling & 0x01 != 0 ? ": " : ":"
                body += Array("x-amz-trailer-signature\(separator)\(signature(trailerSignature))\r\n".utf8)
            }
        }
        body += Array("\r\n".utf8)
        return body
    }
}

/// Piece sizes for feeding a body: a small linear congruential generator, so that a replay feeds
/// exactly the pieces the fuzzer fed.
struct PieceSizes {
    private var state: UInt32
    private let limit: Int

    init(seed: UInt8) {
        state = UInt32(seed) &* 2_654_435_761 &+ 1
        limit = 1 << Int(seed % 13)
    }

    mutating func next() -> Int {
        state = state &* 1_664_525 &+ 1_013_904_223
        return 1 + Int(state >> 8) % limit
    }
}

/// Lowercase hex SHA-256, computed here rather than by S3Signing so the body is built independently.
func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { byte in
        let hex = String(byte, radix: 16)
        return byte < 16 ? "0" + hex : hex
    }.joined()
}
