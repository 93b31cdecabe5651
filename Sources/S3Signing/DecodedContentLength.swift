import NIOHTTP1

/// `x-amz-decoded-content-length`: how many object bytes an aws-chunked body carries. Read once,
/// strictly, before anything is forwarded: the header is signed, but signed is not sane, and a value
/// a lenient parse drops (`abc`, `2e4`, 2^63) would otherwise reach the backend unchecked and leave
/// the length check of the chunk decoder switched off.
public enum DecodedContentLength {
    /// The value, when there is exactly one, made of 1–19 ASCII digits, fitting an `Int64`, and not
    /// larger than the request's `Content-Length` (the framing only ever adds bytes).
    ///
    /// - Throws: `MissingContentLength` when absent; `InvalidArgument` otherwise.
    public static func parse(_ headers: HTTPHeaders) throws(S3Error) -> Int64 {
        let values = headers["x-amz-decoded-content-length"]
        guard !values.isEmpty else {
            throw S3Error(.missingContentLength, "You must provide x-amz-decoded-content-length with an aws-chunked body.")
        }
        guard values.count == 1, let length = digits(values[0]) else {
            throw S3Error(.invalidArgument, "x-amz-decoded-content-length must be one non-negative decimal integer.")
        }
        let contentLengths = headers["content-length"]
        if contentLengths.count == 1, let wireLength = digits(contentLengths[0]), length > wireLength {
            throw S3Error(.invalidArgument, "x-amz-decoded-content-length is larger than the request's Content-Length.")
        }
        return length
    }

    /// `text` as a non-negative `Int64` when it is nothing but ASCII digits (no sign, no spaces).
    private static func digits(_ text: String) -> Int64? {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= 19, bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int64(text)
    }
}
