import NIOCore
import NIOHTTP1
import S3Signing

/// What CopyObject and UploadPartCopy become when the source bucket lives on another backend than
/// the destination: no backend can read another's bucket, so osp reads the source with a GET on
/// its backend and writes it with a PUT (or UploadPart) on the destination's
/// (`CrossBackendCopy` streams one into the other). This type holds the rules of that
/// translation, as S3 states them for a copy, so they can be read and tested apart from the
/// streaming:
///
/// - the source GET carries the copy's conditions and source options under their GET names
///   (`x-amz-copy-source-if-match` → `If-Match`, `x-amz-copy-source-range` → `Range`, the source's
///   SSE-C key → `x-amz-server-side-encryption-customer-*`);
/// - the destination write carries the client's headers without the copy's own, and — with
///   `x-amz-metadata-directive: COPY`, the default — the source's content headers and user
///   metadata instead of the client's, as S3 copies them;
/// - the client gets S3's `CopyObjectResult` / `CopyPartResult`, built by osp from the two answers.
///
/// Refused rather than done differently: a source over S3's 5 GiB copy limit, a source without a
/// declared length, and `x-amz-tagging-directive: COPY` (the default) from a source that has tags —
/// the GET does not return tags, and copying the object without them would lose them silently.
enum CopyBetweenBackends {
    /// S3's largest copy source (CopyObject and each UploadPartCopy): 5 GiB.
    static let maximumSourceBytes: Int64 = 5 << 30

    /// Copy conditions and source options → the same on a GET of the source.
    static let sourceHeaderNames: [(copy: String, get: String)] = [
        ("x-amz-copy-source-if-match", "if-match"),
        ("x-amz-copy-source-if-none-match", "if-none-match"),
        ("x-amz-copy-source-if-modified-since", "if-modified-since"),
        ("x-amz-copy-source-if-unmodified-since", "if-unmodified-since"),
        ("x-amz-copy-source-range", "range"),
        ("x-amz-copy-source-server-side-encryption-customer-algorithm", "x-amz-server-side-encryption-customer-algorithm"),
        ("x-amz-copy-source-server-side-encryption-customer-key", "x-amz-server-side-encryption-customer-key"),
        ("x-amz-copy-source-server-side-encryption-customer-key-md5", "x-amz-server-side-encryption-customer-key-md5"),
        ("x-amz-source-expected-bucket-owner", "x-amz-expected-bucket-owner"),
    ]

    /// The object's own headers S3 copies with `x-amz-metadata-directive: COPY` (besides `x-amz-meta-*`).
    static let copiedContentHeaders = [
        "content-type", "cache-control", "content-disposition", "content-encoding", "content-language", "expires",
        "x-amz-website-redirect-location",
    ]

    /// Whether the header (lowercased) is the object's metadata in the directive's sense: what
    /// `COPY` takes from the source and `REPLACE` from the request — never some of each.
    private static func isObjectMetadata(_ lowercasedName: String) -> Bool {
        lowercasedName.hasPrefix("x-amz-meta-") || copiedContentHeaders.contains(lowercasedName)
    }

    /// The headers of the GET that reads the source.
    static func sourceHeaders(_ client: HTTPHeaders) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for (copyName, getName) in sourceHeaderNames {
            // Values as sent, not split at commas: HTTP dates have one.
            for value in client[copyName] {
                headers.add(name: getName, value: value)
            }
        }
        return headers
    }

    /// Whether the GET asks for a range (UploadPartCopy with `x-amz-copy-source-range`): its
    /// answer is then `206 Partial Content`, not `200 OK`.
    static func readsRange(_ client: HTTPHeaders) -> Bool {
        client.contains(name: "x-amz-copy-source-range")
    }

    /// The length of the source as its GET answer declares it, within S3's copy limit.
    static func sourceLength(_ source: HTTPResponseHead) throws(S3Error) -> Int64 {
        guard let text = source.headers.first(name: "content-length"), let length = Int64(text), length >= 0 else {
            throw S3Error(.notImplemented, "The copy source's backend did not declare its length; osp cannot copy it to another backend.")
        }
        guard length <= maximumSourceBytes else {
            throw S3Error(
                .invalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: \(maximumSourceBytes)")
        }
        return length
    }

    /// The headers of the write to the destination: the client's, without the copy's own and its
    /// length; the source's content headers and metadata when S3 would copy them; the source's length.
    static func destinationHeaders(_ client: HTTPHeaders, operation: String, source: HTTPResponseHead) throws(S3Error) -> HTTPHeaders {
        let length = try sourceLength(source)
        // UploadPartCopy writes bytes only: the object's metadata and tags are the upload's.
        let isObjectCopy = operation == "CopyObject"
        let copiesMetadata = isObjectCopy ? try directive(client, "x-amz-metadata-directive") == "COPY" : false
        let copiesTags = isObjectCopy ? try directive(client, "x-amz-tagging-directive") == "COPY" : false
        if copiesTags, let count = source.headers.first(name: "x-amz-tagging-count"), count != "0" {
            throw S3Error(
                .notImplemented,
                "The copy source has tags, which osp cannot copy between backends; send x-amz-tagging-directive: REPLACE (with the tags to set, if any).")
        }

        var headers = HTTPHeaders()
        for (name, value) in client {
            let lower = name.lowercased()
            if lower.hasPrefix("x-amz-copy-source") || lower == "x-amz-metadata-directive" || lower == "x-amz-tagging-directive"
                || lower == "x-amz-source-expected-bucket-owner" || lower == "content-length" || lower == "content-md5"
            {
                continue
            }
            if lower == "x-amz-tagging" && copiesTags { continue }
            if copiesMetadata && isObjectMetadata(lower) { continue }
            headers.add(name: name, value: value)
        }
        if copiesMetadata {
            for (name, value) in source.headers where isObjectMetadata(name.lowercased()) {
                headers.add(name: name, value: value)
            }
        }
        headers.add(name: "content-length", value: String(length))
        return headers
    }

    /// `COPY` or `REPLACE` (absent: `COPY`); anything else is S3's `InvalidArgument`.
    private static func directive(_ client: HTTPHeaders, _ name: String) throws(S3Error) -> String {
        guard let value = client.first(name: name) else { return "COPY" }
        guard value == "COPY" || value == "REPLACE" else {
            throw S3Error(.invalidArgument, "Unknown \(name) value: \(value)")
        }
        return value
    }

    /// The copy's answer to the client: S3's result document with the destination's ETag, and the
    /// version ids and encryption the two backends reported (framing headers are the sender's).
    static func response(
        operation: String, source: HTTPResponseHead, destination: HTTPResponseHead, lastModified: String,
        allocator: ByteBufferAllocator
    ) -> (headers: HTTPHeaders, body: ByteBuffer) {
        let element = operation == "UploadPartCopy" ? "CopyPartResult" : "CopyObjectResult"
        var body = allocator.buffer(capacity: 256)
        body.writeString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<\(element) xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">")
        body.writeString("<LastModified>\(lastModified)</LastModified><ETag>")
        body.writeXMLEscaped(destination.headers.first(name: "etag") ?? "")
        body.writeString("</ETag></\(element)>")

        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/xml")
        if let version = source.headers.first(name: "x-amz-version-id") {
            headers.add(name: "x-amz-copy-source-version-id", value: version)
        }
        for (name, value) in destination.headers {
            let lower = name.lowercased()
            if (lower == "x-amz-version-id" && operation == "CopyObject") || lower.hasPrefix("x-amz-server-side-encryption") {
                headers.add(name: name, value: value)
            }
        }
        return (headers, body)
    }
}
