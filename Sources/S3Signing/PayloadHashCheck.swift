import Crypto
import NIOCore

/// The body of a request whose `x-amz-content-sha256` is a SHA-256 (`PayloadMode.signed`), hashed as
/// it streams and held to that value.
///
/// The signature covers the header, not the body, so a body swapped under a captured request
/// would otherwise pass osp — and the backend gets the header re-signed with the backend's key,
/// osp vouching for a hash it never checked. Most backends hash the body themselves; the gateway
/// must not depend on it. The check has to decide before the backend has the whole body: the
/// caller forwards each read only after `consume` returned, and `consume` judges the read that
/// completes the declared length (`Content-Length`) before returning it. A body of unknown length
/// (chunked transfer coding) is judged by `finish` before the request's end goes out.
public struct PayloadHashCheck {
    private var hasher = SHA256()
    private let expectedHex: String
    /// `Content-Length`, when the body is framed by it.
    private let declaredLength: Int64?
    public private(set) var received: Int64 = 0
    /// Judged (and matched) already: the declared length arrived.
    private var judged = false

    public static let mismatch = S3Error(
        .xAmzContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed."
    )

    /// - Parameters:
    ///   - sha256Hex: the header's 64 hex digits (either case).
    ///   - declaredLength: the body's `Content-Length`; nil when the body is chunked.
    public init(sha256Hex: String, declaredLength: Int64?) {
        self.expectedHex = sha256Hex
        self.declaredLength = declaredLength
    }

    /// The SHA-256 of no bytes, which every request without a body that signs its payload carries.
    public static let emptyBodySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Whether a request that has no body at all carries the hash of the empty body (a public
    /// value: no need to compare in constant time).
    public static func matchesEmptyBody(sha256Hex: String) -> Bool {
        sha256Hex.equalsLowercaseASCII(Self.emptyBodySHA256)
    }

    /// Hashes the next read of the body. When it completes the declared length the whole body is
    /// judged now, so a mismatching read is never forwarded.
    public mutating func consume(_ buffer: ByteBuffer) throws(S3Error) {
        buffer.withUnsafeReadableBytes { self.hasher.update(bufferPointer: $0) }
        self.received += Int64(buffer.readableBytes)
        if let declared = self.declaredLength, self.received >= declared, !self.judged {
            try self.judge()
        }
    }

    /// The body ended: it must match, if the last read has not judged it already.
    public mutating func finish() throws(S3Error) {
        guard !self.judged else { return }
        try self.judge()
    }

    private mutating func judge() throws(S3Error) {
        let digest = self.hasher.finalize()
        self.judged = true
        let matches = digest.withUnsafeBytes { constantTimeEqualsHex(digest: $0, provided: self.expectedHex) }
        guard matches else { throw Self.mismatch }
    }
}
