import NIOHTTP1
import S3Signing

/// The head osp sends to the backend: the client's request with its addressing translated
/// (path ↔ virtual host, bucket alias, also inside `x-amz-copy-source`), the client's
/// credentials removed and a fresh SigV4 signature made with the backend's keys. Every other
/// header is kept byte for byte: SSE, storage class, ACL, checksums, metadata, Range, conditionals.
struct UpstreamRequest {
    var head: HTTPRequestHead
    var endpoint: BackendEndpoint
    /// The backend signature: the seed that re-signed aws-chunked chunks chain from.
    var seedSignature: String
    var signer: SigV4Signer
    var date: AmzDate
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
    static func build(
        clientHead: HTTPRequestHead,
        target: RequestTarget,
        route: S3Route,
        authentication: ClientAuthentication,
        payloadMode: PayloadMode,
        bucket: BucketRoute,
        backendBucket: String?,
        copySourceHeader: String?,
        credentials: BackendCredentials,
        keyCache: SigningKeyCache,
        now: AmzDate
    ) -> UpstreamRequest {
        let endpoint = BackendEndpoint(bucket)

        let hostname: String
        var path: String
        switch (backendBucket, bucket.addressingStyle) {
        case (nil, _):
            hostname = bucket.host
            path = "/"
        case (let name?, .path):
            hostname = bucket.host
            path = "/" + name + route.rawKeyPath
        case (let name?, .virtual):
            hostname = name + "." + bucket.host
            path = route.rawKeyPath.isEmpty ? "/" : route.rawKeyPath
        }
        if path.isEmpty { path = "/" }

        let query = target.queryWithoutCredentials(of: authentication)

        var headers = HTTPHeaders()
        headers.reserveCapacity(clientHead.headers.count + 4)
        headers.add(name: "host", value: endpoint.hostHeader(for: hostname))
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
        var head = HTTPRequestHead(
            version: .http1_1,
            method: clientHead.method,
            uri: query.isEmpty ? path : path + "?" + query,
            headers: headers
        )
        head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
        return UpstreamRequest(head: head, endpoint: endpoint, seedSignature: seed, signer: signer, date: now)
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
    /// Whether this equals `lowercase` (which must be lower-case ASCII) ignoring ASCII case, without allocating.
    func equalsLowercaseASCII(_ lowercase: String) -> Bool {
        guard self.utf8.count == lowercase.utf8.count else { return false }
        return zip(self.utf8, lowercase.utf8).allSatisfy { a, b in
            a == b || (a >= UInt8(ascii: "A") && a <= UInt8(ascii: "Z") && a | 0x20 == b)
        }
    }

    func trimmingASCIIWhitespace() -> Substring {
        let s = Substring(self)
        var start = s.startIndex
        var end = s.endIndex
        while start < end, s[start] == " " || s[start] == "\t" { start = s.index(after: start) }
        while end > start, s[s.index(before: end)] == " " || s[s.index(before: end)] == "\t" { end = s.index(before: end) }
        return s[start..<end]
    }
}
