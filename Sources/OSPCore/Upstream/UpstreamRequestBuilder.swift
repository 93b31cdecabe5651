import NIOHTTP1
import S3Signing

/// The head osp sends to the backend: the client's request with its addressing translated
/// (path ↔ virtual host, bucket alias, also inside `x-amz-copy-source`), the client's
/// credentials removed and a fresh SigV4 signature made with the backend's keys — or an IBM IAM
/// bearer token. Every other header is kept byte for byte: SSE, storage class, ACL, checksums,
/// metadata, Range, conditionals.
struct UpstreamRequest {
    var head: HTTPRequestHead
    var endpoint: BackendEndpoint
    /// What becomes of an aws-chunked body: re-signed on the backend signature's chain, or decoded
    /// (a bearer token has no chain to sign chunks with).
    var chunkedBody: AWSChunkedTranscoder.Output
}

enum UpstreamRequestBuilder {
    /// Hop-by-hop headers, the client's own auth, and the headers the signer sets anew
    /// (lower case; compared without allocating, as this runs for every header of every request).
    private static let droppedHeaders: [String] = [
        "authorization", "host", "connection", "keep-alive", "proxy-connection",
        "proxy-authorization", "proxy-authenticate", "te", "upgrade", "expect",
        "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
    ]

    /// Builds and signs the backend request.
    /// - Parameters:
    ///   - backendBucket: the bucket's name at the backend (after aliasing); nil for ListBuckets.
    ///   - copySourceHeader: the rewritten `x-amz-copy-source`, when the request has one.
    ///   - forwardedQuery: `target`'s query without the client's credentials, when the caller has it.
    static func build(
        clientHead: HTTPRequestHead,
        target: RequestTarget,
        route: S3Route,
        authentication: ClientAuthentication,
        payloadMode: PayloadMode,
        bucket: BucketRoute,
        backendBucket: String?,
        copySourceHeader: String?,
        authorization: BackendAuthorization,
        keyCache: SigningKeyCache,
        forwardedQuery: String? = nil,
        now: AmzDate
    ) throws(S3Error) -> UpstreamRequest {
        let endpoint = BackendEndpoint(bucket)
        let (hostname, path) = Self.address(bucket: bucket, backendBucket: backendBucket, rawKeyPath: route.rawKeyPath)

        let query = forwardedQuery ?? target.queryWithoutCredentials(of: authentication)

        var headers = HTTPHeaders()
        // host, connection, x-amz-date, x-amz-content-sha256, authorization (+ a session token).
        headers.reserveCapacity(clientHead.headers.count + 6)
        headers.add(name: "host", value: endpoint.hostHeader(for: hostname))
        headers.add(name: "connection", value: "keep-alive")
        let connectionTokens = Self.connectionTokens(clientHead.headers)
        for (name, value) in clientHead.headers {
            if droppedHeaders.contains(where: { name.equalsLowercaseASCII($0) }) { continue }
            if !connectionTokens.isEmpty, connectionTokens.contains(name.lowercased()) { continue }
            if let rewritten = copySourceHeader, name.equalsLowercaseASCII("x-amz-copy-source") {
                headers.add(name: name, value: rewritten)
                continue
            }
            headers.add(name: name, value: value)
        }

        let uri = query.isEmpty ? path : path + "?" + query
        let chunkedBody: AWSChunkedTranscoder.Output
        switch authorization {
        case .signature(let credentials):
            let signer = SigV4Signer(
                accessKey: credentials.accessKey,
                secretKey: credentials.secretKey,
                sessionToken: credentials.sessionToken,
                region: bucket.region,
                service: "s3",
                keyCache: keyCache
            )
            let seed = signer.signHeaders(
                method: clientHead.method.rawValue,
                rawPath: path,
                rawQuery: query,
                headers: &headers,
                payloadHash: payloadMode.headerValue,
                date: now
            )
            chunkedBody = .reframed(
                resigningWith: payloadMode.isSigned ? signer.chunkSigningContext(seedSignature: seed, date: now) : nil
            )
        case .bearer(let token):
            if payloadMode.isStreaming {
                try Self.announceDecodedBody(in: &headers)
            }
            // The client's body hash still protects the body: the backend checks it.
            if case .signed(let sha256Hex) = payloadMode {
                headers.add(name: "x-amz-content-sha256", value: sha256Hex)
            }
            headers.add(name: "authorization", value: "Bearer " + token.value)
            chunkedBody = .decoded
        }
        let head = HTTPRequestHead(version: .http1_1, method: clientHead.method, uri: uri, headers: headers)
        return UpstreamRequest(head: head, endpoint: endpoint, chunkedBody: chunkedBody)
    }

    /// The backend's host name and request path for `rawKeyPath` (as the client sent it) in
    /// `backendBucket`, in the bucket's addressing style; `/` on the host itself for ListBuckets.
    static func address(bucket: BucketRoute, backendBucket: String?, rawKeyPath: String) -> (hostname: String, path: String) {
        switch (backendBucket, bucket.addressingStyle) {
        case (nil, _):
            return (bucket.host, "/")
        case (let name?, .path):
            return (bucket.host, "/" + name + rawKeyPath)
        case (let name?, .virtual):
            return (name + "." + bucket.host, rawKeyPath.isEmpty ? "/" : rawKeyPath)
        }
    }

    /// An aws-chunked body sent decoded: its length is `x-amz-decoded-content-length`, and the headers
    /// that describe the framing (`aws-chunked` in `Content-Encoding`, `x-amz-trailer`) go.
    private static func announceDecodedBody(in headers: inout HTTPHeaders) throws(S3Error) {
        guard let text = headers.first(name: "x-amz-decoded-content-length"), let length = Int64(text), length >= 0 else {
            throw S3Error(.missingContentLength, "You must provide x-amz-decoded-content-length with an aws-chunked body.")
        }
        for name in ["x-amz-decoded-content-length", "x-amz-trailer", "transfer-encoding", "content-length"] {
            headers.remove(name: name)
        }
        let encodings = headers[canonicalForm: "content-encoding"].filter { !$0.equalsLowercaseASCII("aws-chunked") }
        headers.remove(name: "content-encoding")
        for encoding in encodings {
            headers.add(name: "content-encoding", value: String(encoding))
        }
        headers.add(name: "content-length", value: String(length))
    }

    /// Header names listed in `Connection:` are hop-by-hop too (RFC 9110 §7.6.1).
    private static func connectionTokens(_ headers: HTTPHeaders) -> Set<String> {
        var tokens: Set<String> = []
        for value in headers["connection"] {
            if value.equalsLowercaseASCII("keep-alive") || value.equalsLowercaseASCII("close") { continue }
            for token in value.split(separator: ",") {
                let trimmed = token.trimmingASCIIWhitespace().lowercased()
                if !trimmed.isEmpty, trimmed != "close", trimmed != "keep-alive" { tokens.insert(trimmed) }
            }
        }
        return tokens
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> Substring {
        let s = Substring(self)
        var start = s.startIndex
        var end = s.endIndex
        while start < end, s[start] == " " || s[start] == "\t" { start = s.index(after: start) }
        while end > start, s[s.index(before: end)] == " " || s[s.index(before: end)] == "\t" { end = s.index(before: end) }
        return s[start..<end]
    }
}
