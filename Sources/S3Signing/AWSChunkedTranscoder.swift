import Crypto
import NIOCore

/// Re-frames an `aws-chunked` request body as it streams from the client to the backend.
///
/// Signed chunks chain from the request's signature, so a body signed by the client cannot be
/// forwarded under the backend's signature as is: each chunk is buffered (at most `maxChunkSize`),
/// its signature checked against the client's chain, and the same chunk written out with a signature
/// on the backend's chain. Sizes and data are untouched, so the body's length — and the request's
/// `Content-Length` — do not change. Nothing of a chunk is forwarded before its signature verified.
///
/// `STREAMING-UNSIGNED-PAYLOAD-TRAILER` bodies carry no signatures: their framing and decoded length
/// are checked and the bytes pass through unchanged.
///
/// With `Output.decoded` the framing is removed instead: only the object's bytes go out (each signed
/// chunk still only after it verified), for backends that authenticate by bearer token and so cannot
/// take an aws-chunked body (IBM COS with IAM): its length is `x-amz-decoded-content-length`.
/// The trailer (a checksum) is then not forwarded.
public struct AWSChunkedTranscoder {
    /// What goes upstream.
    public enum Output: Sendable {
        /// The same aws-chunked framing; signed chunks re-signed on `resigningWith`'s chain (nil keeps
        /// the client's signatures).
        case reframed(resigningWith: ChunkSigningContext?)
        /// The object's bytes alone.
        case decoded
    }

    private enum State {
        /// Reading `<hex-size>[;chunk-signature=<sig>]\r\n`.
        case chunkHeader
        /// Reading the data of the current chunk.
        case chunkData(remaining: Int)
        /// Expecting the `\r\n` after a chunk's data; `sawCR` once the `\r` arrived.
        case chunkDataEnd(sawCR: Bool)
        /// After the final (zero-size) chunk: trailer lines, then an empty line.
        case trailer
        case complete
        /// Not aws-chunked at all (`.signed`/`.unsigned` mode): bytes pass through, only counted.
        case passthrough
        case failed(S3Error)
    }

    public let mode: PayloadMode
    private let client: ChunkSigningContext?
    private let backend: ChunkSigningContext?
    /// `Output.decoded`: write chunk data only.
    private let decodes: Bool
    private let decodedContentLength: Int64?
    private let maxChunkSize: Int
    private let maxLineLength = 4096
    private let maxTrailerLength = 16 * 1024

    private var state: State
    /// The line being read, without its CRLF.
    private var line: [UInt8] = []
    /// The current chunk's size as the client wrote it (re-emitted verbatim, to keep the length).
    private var sizeText: [UInt8] = []
    private var clientChunkSignature: [UInt8] = []
    private var chunkBuffer: ByteBuffer
    private var hasher = SHA256()
    private var previousClientSignature: [UInt8]
    private var previousBackendSignature: [UInt8]
    private var scratch: [UInt8] = []
    private var decodedLength: Int64 = 0
    /// Trailer lines held until the trailer signature verified (signed trailer mode).
    private var trailerBytes: [UInt8] = []
    private var canonicalTrailer: [UInt8] = []
    private var clientTrailerSignature: [UInt8]?
    /// The signature line as the client wrote it around the 64 hex digits (name, colon, spaces), so
    /// that the re-signed line has the same length whatever spacing the client used.
    private var trailerSignatureLinePrefix: [UInt8] = []
    private var trailerSignatureLineSuffix: [UInt8] = []

    /// - Parameters:
    ///   - mode: the request's payload mode; non-streaming modes pass bytes through.
    ///   - client: the client's chain (`VerifiedRequest.chunkSigning`); required for signed modes.
    ///   - backend: the backend's chain (`SigV4Signer.chunkSigningContext`); nil keeps the client's
    ///     signatures (verify only).
    ///   - decodedContentLength: `x-amz-decoded-content-length`, checked when given.
    public init(
        mode: PayloadMode, verifying client: ChunkSigningContext?, resigningWith backend: ChunkSigningContext?,
        decodedContentLength: Int64?, maxChunkSize: Int = 16 << 20
    ) {
        self.init(
            mode: mode, verifying: client, output: .reframed(resigningWith: backend),
            decodedContentLength: decodedContentLength, maxChunkSize: maxChunkSize
        )
    }

    /// - Parameter output: re-framed (re-signed) or decoded; see `Output`.
    public init(
        mode: PayloadMode, verifying client: ChunkSigningContext?, output: Output,
        decodedContentLength: Int64?, maxChunkSize: Int = 16 << 20
    ) {
        self.mode = mode
        self.client = client
        switch output {
        case .reframed(let backend):
            self.backend = backend
            self.decodes = false
        case .decoded:
            self.backend = nil
            self.decodes = true
        }
        self.decodedContentLength = decodedContentLength
        self.maxChunkSize = maxChunkSize
        self.chunkBuffer = ByteBufferAllocator().buffer(capacity: 0)
        self.previousClientSignature = Array((client?.seedSignature ?? "").utf8)
        self.previousBackendSignature = Array((backend?.seedSignature ?? "").utf8)
        if !mode.isStreaming {
            state = .passthrough
        } else if mode.isSigned && client == nil {
            state = .failed(S3Error(.internalError, "A signed aws-chunked body needs the client's signing context."))
        } else {
            state = .chunkHeader
        }
    }

    /// The final chunk (and trailer) arrived; more bytes would be an error.
    public var isComplete: Bool {
        if case .complete = state { return true }
        return false
    }

    /// Consumes client bytes from `input` and appends what to forward upstream to `output`. Throws on
    /// framing errors (`.invalidChunkSizeError`), a chunk or trailer signature that does not verify
    /// (`.signatureDoesNotMatch`), a chunk larger than `maxChunkSize`, more data than
    /// `x-amz-decoded-content-length`, or data after the end. Once it threw, it throws again.
    public mutating func feed(_ input: inout ByteBuffer, into output: inout ByteBuffer) throws(S3Error) {
        do {
            try process(&input, into: &output)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// The client's body ended: throws `.incompleteBody` unless the final chunk (and trailer) arrived
    /// and the data added up to `x-amz-decoded-content-length`.
    public mutating func finish() throws(S3Error) {
        switch state {
        case .complete:
            return
        case .passthrough:
            if let decodedContentLength, decodedLength != decodedContentLength {
                let error = S3Error(.incompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
                state = .failed(error)
                throw error
            }
        case .failed(let error):
            throw error
        case .chunkHeader, .chunkData, .chunkDataEnd, .trailer:
            let error = S3Error(.incompleteBody, "The request body terminated unexpectedly.")
            state = .failed(error)
            throw error
        }
    }

    // MARK: - The state machine

    private mutating func process(_ input: inout ByteBuffer, into output: inout ByteBuffer) throws(S3Error) {
        while input.readableBytes > 0 {
            switch state {
            case .failed(let error):
                throw error
            case .complete:
                throw S3Error(.invalidRequest, "Unexpected data after the end of the aws-chunked body.")
            case .passthrough:
                decodedLength += Int64(input.readableBytes)
                if let decodedContentLength, decodedLength > decodedContentLength {
                    throw S3Error(.invalidArgument, "The body is longer than x-amz-decoded-content-length.")
                }
                output.writeBuffer(&input)
            case .chunkHeader:
                guard try readLine(&input) else { return }
                try chunkHeaderLine(into: &output)
            case .chunkData(let remaining):
                let n = min(remaining, input.readableBytes)
                if mode.isSigned {
                    input.withUnsafeReadableBytes { bytes in
                        let piece = UnsafeRawBufferPointer(rebasing: bytes.prefix(n))
                        hasher.update(bufferPointer: piece)
                        chunkBuffer.writeBytes(piece)
                    }
                    input.moveReaderIndex(forwardBy: n)
                } else {
                    var slice = input.readSlice(length: n)!
                    output.writeBuffer(&slice)
                }
                state = remaining == n ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: remaining - n)
            case .chunkDataEnd(let sawCR):
                let byte = input.readInteger(as: UInt8.self)!
                if !sawCR {
                    guard byte == UInt8(ascii: "\r") else { throw Self.framingError("chunk data is not followed by CRLF") }
                    state = .chunkDataEnd(sawCR: true)
                } else {
                    guard byte == UInt8(ascii: "\n") else { throw Self.framingError("chunk data is not followed by CRLF") }
                    try endOfChunkData(into: &output)
                    state = .chunkHeader
                }
            case .trailer:
                guard try readLine(&input) else { return }
                try trailerLine(into: &output)
            }
        }
    }

    /// Accumulates bytes into `line` up to a LF; true once a whole line (CRLF stripped) is there.
    private mutating func readLine(_ input: inout ByteBuffer) throws(S3Error) -> Bool {
        let view = input.readableBytesView
        let newline = view.firstIndex(of: UInt8(ascii: "\n"))
        let take = (newline ?? view.endIndex) - view.startIndex
        guard line.count + take <= maxLineLength else {
            throw S3Error(.invalidChunkSizeError, "An aws-chunked header or trailer line is too long.")
        }
        line.append(contentsOf: view.prefix(take))
        guard newline != nil else {
            input.moveReaderIndex(forwardBy: take)
            return false
        }
        input.moveReaderIndex(forwardBy: take + 1)
        guard line.last == UInt8(ascii: "\r") else { throw Self.framingError("a line does not end in CRLF") }
        line.removeLast()
        return true
    }

    private static let signaturePrefix: [UInt8] = Array(";chunk-signature=".utf8)
    private static let trailerSignatureName: [UInt8] = Array("x-amz-trailer-signature".utf8)
    private static let crlf: [UInt8] = [UInt8(ascii: "\r"), UInt8(ascii: "\n")]

    private mutating func chunkHeaderLine(into output: inout ByteBuffer) throws(S3Error) {
        defer { line.removeAll(keepingCapacity: true) }
        let semicolon = line.firstIndex(of: UInt8(ascii: ";")) ?? line.endIndex
        guard let size = Self.parseHexSize(line[..<semicolon]) else {
            throw Self.framingError("invalid chunk size")
        }
        if mode.isSigned {
            guard line.count == semicolon + Self.signaturePrefix.count + 64,
                line[semicolon..<(semicolon + Self.signaturePrefix.count)].elementsEqual(Self.signaturePrefix)
            else {
                throw Self.framingError("a chunk header must be <hex-size>;chunk-signature=<64 hex digits>")
            }
            guard size <= maxChunkSize else {
                throw S3Error(.invalidChunkSizeError, "A chunk is larger than the \(maxChunkSize) bytes this gateway buffers.")
            }
            sizeText.removeAll(keepingCapacity: true)
            sizeText.append(contentsOf: line[..<semicolon])
            clientChunkSignature.removeAll(keepingCapacity: true)
            clientChunkSignature.append(contentsOf: line[(semicolon + Self.signaturePrefix.count)...])
            hasher = SHA256()
            chunkBuffer.clear()
        } else if !decodes {
            output.writeBytes(line)
            output.writeBytes(Self.crlf)
        }
        try account(size)
        if size == 0 {
            if mode.isSigned {
                try endOfChunkData(into: &output)
            }
            state = .trailer
        } else {
            state = .chunkData(remaining: size)
        }
    }

    private mutating func account(_ size: Int) throws(S3Error) {
        decodedLength += Int64(size)
        guard let decodedContentLength else { return }
        if decodedLength > decodedContentLength {
            throw S3Error(.invalidArgument, "The aws-chunked body holds more data than x-amz-decoded-content-length.")
        }
        if size == 0, decodedLength < decodedContentLength {
            throw S3Error(.incompleteBody, "The aws-chunked body holds less data than x-amz-decoded-content-length.")
        }
    }

    /// A signed chunk's data is complete: verify, then forward it with the backend's signature.
    private mutating func endOfChunkData(into output: inout ByteBuffer) throws(S3Error) {
        guard mode.isSigned, let client else {
            if !decodes { output.writeBytes(Self.crlf) }
            return
        }
        let digest = hasher.finalize()
        client.signChunk(previous: previousClientSignature, dataDigest: digest, into: &scratch)
        guard constantTimeEquals(bytes: scratch, Self.lowercased(clientChunkSignature)) else {
            throw S3Error.signatureMismatch
        }
        swap(&previousClientSignature, &scratch)
        if decodes {
            output.writeBuffer(&chunkBuffer)
            chunkBuffer.clear()
            return
        }
        if let backend {
            backend.signChunk(previous: previousBackendSignature, dataDigest: digest, into: &scratch)
            swap(&previousBackendSignature, &scratch)
        } else {
            previousBackendSignature = previousClientSignature
        }
        output.writeBytes(sizeText)
        output.writeBytes(Self.signaturePrefix)
        output.writeBytes(previousBackendSignature)
        output.writeBytes(Self.crlf)
        if chunkBuffer.readableBytes > 0 {
            output.writeBuffer(&chunkBuffer)
            output.writeBytes(Self.crlf)
        }
        chunkBuffer.clear()
    }

    private mutating func trailerLine(into output: inout ByteBuffer) throws(S3Error) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            try endOfBody(into: &output)
            return
        }
        guard mode.hasTrailer else { throw Self.framingError("trailer headers in a body without x-amz-trailer") }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
            throw Self.framingError("a trailer line must be name:value")
        }
        trailerBytes.append(contentsOf: line)
        trailerBytes.append(contentsOf: Self.crlf)
        guard trailerBytes.count <= maxTrailerLength else {
            throw S3Error(.invalidChunkSizeError, "The aws-chunked trailer is too long.")
        }
        guard mode.isSigned else {
            // Unsigned trailer: forward as it comes.
            if decodes { return }
            output.writeBytes(line)
            output.writeBytes(Self.crlf)
            return
        }
        guard clientTrailerSignature == nil else {
            throw Self.framingError("x-amz-trailer-signature must be the last trailer line")
        }
        let name = line[..<colon].map(Self.lowercase)
        let value = Self.trimmed(line[(colon + 1)...])
        if name.elementsEqual(Self.trailerSignatureName) {
            guard value.count == 64 else { throw Self.framingError("x-amz-trailer-signature must be 64 hex digits") }
            clientTrailerSignature = Array(value)
            trailerSignatureLinePrefix = Array(line[..<value.startIndex])
            trailerSignatureLineSuffix = Array(line[value.endIndex...])
            trailerBytes.removeLast(line.count + 2)
        } else {
            canonicalTrailer.append(contentsOf: name)
            canonicalTrailer.append(UInt8(ascii: ":"))
            canonicalTrailer.append(contentsOf: value)
            canonicalTrailer.append(UInt8(ascii: "\n"))
        }
    }

    /// The empty line after the final chunk (and its trailer).
    private mutating func endOfBody(into output: inout ByteBuffer) throws(S3Error) {
        if mode.isSigned && mode.hasTrailer, let client {
            guard let clientTrailerSignature else {
                throw S3Error(.invalidRequest, "The aws-chunked trailer has no x-amz-trailer-signature.")
            }
            client.signTrailer(previous: previousClientSignature, canonicalTrailer: canonicalTrailer, into: &scratch)
            guard constantTimeEquals(bytes: scratch, Self.lowercased(clientTrailerSignature)) else {
                throw S3Error.signatureMismatch
            }
            if decodes {
                state = .complete
                return
            }
            if let backend {
                backend.signTrailer(previous: previousBackendSignature, canonicalTrailer: canonicalTrailer, into: &scratch)
            }
            output.writeBytes(trailerBytes)
            output.writeBytes(trailerSignatureLinePrefix)
            output.writeBytes(scratch)
            output.writeBytes(trailerSignatureLineSuffix)
            output.writeBytes(Self.crlf)
        }
        if !decodes { output.writeBytes(Self.crlf) }
        state = .complete
    }

    // MARK: - Byte helpers

    private static func framingError(_ detail: String) -> S3Error {
        S3Error(.invalidChunkSizeError, "Invalid aws-chunked encoding: \(detail).")
    }

    /// 1 to 15 hex digits (so it fits an Int), nothing else.
    private static func parseHexSize(_ text: ArraySlice<UInt8>) -> Int? {
        guard !text.isEmpty, text.count <= 15 else { return nil }
        var size = 0
        for c in text {
            guard let digit = Hex.value(c) else { return nil }
            size = size << 4 | Int(digit)
        }
        return size
    }

    private static func lowercase(_ c: UInt8) -> UInt8 {
        c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c + 32 : c
    }

    private static func lowercased(_ bytes: [UInt8]) -> LazyMapSequence<[UInt8], UInt8> {
        bytes.lazy.map(lowercase)
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while let first = s.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { s.removeFirst() }
        while let last = s.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { s.removeLast() }
        return s
    }
}
