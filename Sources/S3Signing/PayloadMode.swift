/// How a request's body is protected, as announced by `x-amz-content-sha256`. It decides what the
/// gateway must do with the body: check a hash, trust TLS, or verify (and re-sign) aws-chunked frames.
public enum PayloadMode: Sendable, Equatable, Hashable {
    /// The body's SHA-256, lowercase hex.
    case signed(sha256Hex: String)
    /// `UNSIGNED-PAYLOAD`
    case unsigned
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked with signed chunks.
    case streamingSigned
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    case streamingSignedTrailer
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked without signatures, with a (checksum) trailer.
    case streamingUnsignedTrailer

    public init(headerValue: String) throws(S3Error) {
        switch headerValue {
        case "UNSIGNED-PAYLOAD": self = .unsigned
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": self = .streamingSigned
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": self = .streamingSignedTrailer
        case "STREAMING-UNSIGNED-PAYLOAD-TRAILER": self = .streamingUnsignedTrailer
        case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
            throw S3Error(.notImplemented, "SigV4a (ECDSA) streaming payloads are not supported.")
        default:
            guard Hex.isHex(headerValue, count: 64) else {
                throw S3Error(.invalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value or a SHA-256 hex digest.")
            }
            self = .signed(sha256Hex: headerValue.lowercased())
        }
    }

    /// The `x-amz-content-sha256` value for this mode.
    public var headerValue: String {
        switch self {
        case .signed(let sha256Hex): return sha256Hex
        case .unsigned: return "UNSIGNED-PAYLOAD"
        case .streamingSigned: return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        case .streamingSignedTrailer: return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        case .streamingUnsignedTrailer: return "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        }
    }

    /// The body is aws-chunked framing, not the object's bytes.
    public var isStreaming: Bool {
        switch self {
        case .signed, .unsigned: return false
        case .streamingSigned, .streamingSignedTrailer, .streamingUnsignedTrailer: return true
        }
    }

    /// Each aws-chunked chunk carries a signature chained from the request's signature.
    public var isSigned: Bool {
        self == .streamingSigned || self == .streamingSignedTrailer
    }

    /// The aws-chunked body ends with trailer headers (e.g. `x-amz-checksum-crc32`).
    public var hasTrailer: Bool {
        self == .streamingSignedTrailer || self == .streamingUnsignedTrailer
    }
}
