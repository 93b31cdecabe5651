import NIOHTTP1
import S3Signing
import Testing

@testable import OSPCore

/// The backend request osp builds from a verified client request.
@Suite("Upstream request")
struct UpstreamRequestBuilderTests {
    let backend = BackendCredentials(accessKey: "BACKENDAK", secretKey: "backend-secret")
    let now = AmzDate(secondsSinceEpoch: 1_795_000_000)
    let keyCache = SigningKeyCache()

    func bucket(_ style: AddressingStyle = .path, alias: String? = nil, port: Int = 9000) -> BucketRoute {
        BucketRoute(
            name: "proxy-bucket01", host: "backend.example", port: port, region: "eu-de",
            addressingStyle: style, backendBucket: alias, credentials: backend
        )
    }

    func route(_ rawKeyPath: String, key: String?, copySource: CopySource? = nil) -> S3Route {
        S3Route(
            bucket: "proxy-bucket01", key: key, rawKeyPath: rawKeyPath, addressing: .path,
            operation: S3Operation(name: "GetObject", action: "s3:GetObject"), copySource: copySource
        )
    }

    func build(
        _ head: HTTPRequestHead,
        route: S3Route,
        bucket: BucketRoute,
        authentication: ClientAuthentication = .anonymous,
        payload: PayloadMode = .unsigned,
        copySourceHeader: String? = nil,
        authorization: BackendAuthorization? = nil
    ) throws -> UpstreamRequest {
        try UpstreamRequestBuilder.build(
            clientHead: head, target: RequestTarget(uri: head.uri), route: route,
            authentication: authentication, payloadMode: payload, bucket: bucket,
            backendBucket: bucket.backendBucketName(for: "proxy-bucket01"),
            copySourceHeader: copySourceHeader, authorization: authorization ?? .signature(backend),
            keyCache: keyCache, now: now
        )
    }

    /// Verifies `request` the way the backend would, with the backend's secret.
    func backendAccepts(_ request: UpstreamRequest) throws -> Bool {
        let target = RequestTarget(uri: request.head.uri)
        let incoming = IncomingRequest(
            method: request.head.method.rawValue, rawPath: target.rawPath, rawQuery: target.rawQuery,
            headers: request.head.headers
        )
        let auth = try ClientAuthentication.parse(headers: request.head.headers, rawQuery: target.rawQuery)
        let verified = try RequestVerifier(keyCache: SigningKeyCache()).verify(
            auth, request: incoming, secretKey: backend.secretKey, now: now, sigV2ResourcePath: target.rawPath
        )
        return verified.accessKey == backend.accessKey
    }

    @Test("an aliased path-style request goes to the backend bucket, signed with the backend's keys")
    func aliasPathStyle() throws {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "127.0.0.1:6190")
        headers.add(name: "Authorization", value: "AWS4-HMAC-SHA256 Credential=CLIENT/20261129/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/proxy-bucket01/dir/a%2Bb%20c.txt?versionId=3", headers: headers)
        let request = try build(head, route: route("/dir/a%2Bb%20c.txt", key: "dir/a+b c.txt"), bucket: bucket(alias: "real-bucket"))

        #expect(request.head.uri == "/real-bucket/dir/a%2Bb%20c.txt?versionId=3")
        #expect(request.head.headers["host"] == ["backend.example:9000"])
        #expect(request.endpoint == BackendEndpoint(host: "backend.example", port: 9000, tls: false))
        #expect(!request.head.headers["authorization"].contains { $0.contains("CLIENT") })
        #expect(try backendAccepts(request))
    }

    @Test("virtual-host backends get the bucket in the Host header and only the key in the path")
    func virtualHostBackend() throws {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/proxy-bucket01/k", headers: ["Host": "osp"])
        let request = try build(head, route: route("/k", key: "k"), bucket: bucket(.virtual, alias: "real", port: 443))
        #expect(request.head.uri == "/k")
        #expect(request.head.headers["host"] == ["real.backend.example:443"])
        #expect(try backendAccepts(request))
    }

    @Test("a bucket-level request on a virtual-host backend targets /")
    func virtualHostBucketLevel() throws {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/proxy-bucket01?list-type=2&delimiter=%2F", headers: ["Host": "osp"])
        let request = try build(head, route: route("", key: nil), bucket: bucket(.virtual))
        #expect(request.head.uri == "/?list-type=2&delimiter=%2F")
        #expect(try backendAccepts(request))
    }

    @Test("presigned credentials are removed from the query; other parameters stay byte for byte")
    func presignedQueryStripped() throws {
        let query = "response-content-type=text%2Fplain&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=C%2F20261129%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261129T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + String(repeating: "f", count: 64) + "&partNumber=1"
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/proxy-bucket01/k?" + query, headers: ["Host": "osp"])
        let auth = try ClientAuthentication.parse(headers: head.headers, rawQuery: query)
        let request = try build(head, route: route("/k", key: "k"), bucket: bucket(), authentication: auth)
        #expect(request.head.uri == "/proxy-bucket01/k?response-content-type=text%2Fplain&partNumber=1")
        #expect(try backendAccepts(request))
    }

    @Test("credential parameters are removed however their names are percent-encoded")
    func encodedCredentialNamesStripped() throws {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Cred%65ntial=C%2F20261129%2Fus-east-1%2Fs3%2Faws4_request"
            + "&X-Amz-Date=20261129T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&x-id=GetObject&a%zz=1"
            + "&X-Amz-Signatur%65=" + String(repeating: "f", count: 64)
        let presigned = try ClientAuthentication.parse(headers: [:], rawQuery: query)
        #expect(presigned.accessKey == "C")
        let target = RequestTarget(rawPath: "/b/k", rawQuery: query)
        #expect(target.queryWithoutCredentials(of: presigned) == "x-id=GetObject&a%zz=1")
    }

    @Test("a query of credentials alone leaves nothing; a query without them is kept as sent; empty parameters go")
    func queryDroppingEdges() throws {
        let credentialsOnly = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=C%2F20261129%2Fus-east-1%2Fs3%2Faws4_request"
            + "&X-Amz-Date=20261129T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + String(repeating: "f", count: 64)
        let presigned = try ClientAuthentication.parse(headers: [:], rawQuery: credentialsOnly)
        #expect(RequestTarget(rawPath: "/b/k", rawQuery: credentialsOnly).queryWithoutCredentials(of: presigned) == "")
        let target = RequestTarget(rawPath: "/b", rawQuery: "list-type=2&prefix=a%2Fb&&max-keys=3&")
        #expect(target.query(droppingNamed: []) == "list-type=2&prefix=a%2Fb&max-keys=3")
        #expect(target.query(droppingNamed: ["prefix"]) == "list-type=2&max-keys=3")
        #expect(target.query(droppingNamed: ["max-keys", "prefix", "list-type"]) == "")
        let plain = RequestTarget(rawPath: "/b", rawQuery: "uploads&x-id=CreateMultipartUpload")
        #expect(plain.query(droppingNamed: ["x-id"]) == "uploads")
        #expect(plain.query(droppingNamed: ["uploads"]) == "x-id=CreateMultipartUpload")
        // Names are compared decoded; a name whose `%` is not an escape is only itself.
        let encoded = RequestTarget(rawPath: "/b", rawQuery: "pr%65fix=a&prefix%=b&%70refix%zz=c")
        #expect(encoded.query(droppingNamed: ["prefix"]) == "prefix%=b&%70refix%zz=c")
    }

    @Test("SigV2 query credentials are removed")
    func sigV2QueryStripped() throws {
        let query = "AWSAccessKeyId=CLIENT&Expires=1795000100&Signature=abc%3D&uploadId=7"
        let head = HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/proxy-bucket01/k?" + query, headers: ["Host": "osp"])
        let auth = try ClientAuthentication.parse(headers: head.headers, rawQuery: query)
        let request = try build(head, route: route("/k", key: "k"), bucket: bucket(), authentication: auth)
        #expect(request.head.uri == "/proxy-bucket01/k?uploadId=7")
    }

    @Test("SSE, storage class, ACL, checksum, metadata, range and conditional headers are kept byte for byte")
    func headersKept() throws {
        let kept: [(String, String)] = [
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:eu:1:key/k"),
            ("x-amz-storage-class", "GLACIER_IR"),
            ("x-amz-acl", "bucket-owner-full-control"),
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("x-amz-meta-Owner", "  Ünïcode  value "),
            ("Range", "bytes=0-99"),
            ("If-None-Match", "\"etag\""),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", "12"),
        ]
        var headers = HTTPHeaders(kept)
        headers.add(name: "Host", value: "osp")
        headers.add(name: "Expect", value: "100-continue")
        headers.add(name: "Connection", value: "keep-alive, X-Hop")
        headers.add(name: "X-Hop", value: "1")
        headers.add(name: "x-amz-date", value: "20200101T000000Z")
        let head = HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/proxy-bucket01/k", headers: headers)
        let request = try build(head, route: route("/k", key: "k"), bucket: bucket(), payload: .signed(sha256Hex: String(repeating: "a", count: 64)))
        for (name, value) in kept {
            #expect(request.head.headers[name] == [value], "\(name)")
        }
        #expect(request.head.headers["expect"].isEmpty)
        #expect(request.head.headers["x-hop"].isEmpty)
        #expect(request.head.headers["x-amz-date"] == [now.amzDate])
        #expect(request.head.headers["x-amz-content-sha256"] == [String(repeating: "a", count: 64)])
    }

    @Test("the copy source is rewritten to the backend bucket and signed")
    func copySourceRewritten() throws {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "osp")
        headers.add(name: "x-amz-copy-source", value: "/proxy-bucket01/src%2Bkey?versionId=v1")
        let head = HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/proxy-bucket01/dst", headers: headers)
        let source = try CopySource(headerValue: "/proxy-bucket01/src%2Bkey?versionId=v1")
        let request = try build(
            head, route: route("/dst", key: "dst", copySource: source), bucket: bucket(alias: "real"),
            copySourceHeader: source.headerValue(backendBucket: "real")
        )
        #expect(request.head.headers["x-amz-copy-source"] == ["/real/src%2Bkey?versionId=v1"])
        #expect(try backendAccepts(request))
    }

    @Test("the request target splits at the first question mark and keeps both halves raw")
    func requestTarget() {
        let target = RequestTarget(uri: "/b/k%3F?x=%3F?y")
        #expect(target.rawPath == "/b/k%3F")
        #expect(target.rawQuery == "x=%3F?y")
        #expect(RequestTarget(uri: "/b").rawQuery == "")
    }
}

/// IBM COS buckets with an `api_key`: the backend gets a bearer token, not a signature.
@Suite("Upstream request with an IAM bearer token")
struct UpstreamBearerRequestTests {
    let token = IAMBearerToken(value: "iam-token-1", lifetimeSeconds: 3600)
    let route = S3Route(
        bucket: "cos-bucket", key: "k", rawKeyPath: "/k", addressing: .path,
        operation: S3Operation(name: "PutObject", action: "s3:PutObject"), copySource: nil
    )
    let bucket = BucketRoute(name: "cos-bucket", host: "cos.example", port: 443, tls: true, ibmIAM: IBMIAMKey(apiKey: "k"))

    func build(_ headers: HTTPHeaders, payload: PayloadMode) throws -> UpstreamRequest {
        var clientHeaders = HTTPHeaders([
            ("Host", "osp"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=CLIENT/20261129/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc"),
            ("x-amz-date", "20261129T000000Z"), ("x-amz-content-sha256", payload.headerValue),
        ])
        clientHeaders.add(contentsOf: headers)
        return try UpstreamRequestBuilder.build(
            clientHead: HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/cos-bucket/k", headers: clientHeaders),
            target: RequestTarget(uri: "/cos-bucket/k"), route: route, authentication: .anonymous, payloadMode: payload,
            bucket: bucket, backendBucket: "cos-bucket", copySourceHeader: nil, authorization: .bearer(token),
            keyCache: SigningKeyCache(), now: AmzDate(secondsSinceEpoch: 1_795_000_000)
        )
    }

    @Test("the token replaces the client's signature; a body hash is kept for the backend to check")
    func bearerHeader() throws {
        let hash = String(repeating: "ab", count: 32)
        let request = try build(["Content-Length": "3", "x-amz-storage-class": "STANDARD"], payload: .signed(sha256Hex: hash))
        #expect(request.head.headers["authorization"] == ["Bearer iam-token-1"])
        #expect(request.head.headers["x-amz-content-sha256"] == [hash])
        #expect(request.head.headers["x-amz-date"].isEmpty)
        #expect(request.head.headers["x-amz-storage-class"] == ["STANDARD"])
        #expect(request.head.headers["content-length"] == ["3"])
        guard case .decoded = request.chunkedBody else {
            Issue.record("a bearer request has no signature chain to re-sign chunks with")
            return
        }
    }

    @Test("an aws-chunked body is announced decoded: its decoded length, and no framing headers")
    func decodedChunkedBody() throws {
        let request = try build(
            [
                "Content-Length": "1234", "Content-Encoding": "aws-chunked,gzip", "x-amz-decoded-content-length": "1000",
                "x-amz-trailer": "x-amz-checksum-crc32",
            ],
            payload: .streamingUnsignedTrailer
        )
        #expect(request.head.headers["content-length"] == ["1000"])
        #expect(request.head.headers["content-encoding"] == ["gzip"])
        #expect(request.head.headers["x-amz-decoded-content-length"].isEmpty)
        #expect(request.head.headers["x-amz-trailer"].isEmpty)
        #expect(request.head.headers["x-amz-content-sha256"].isEmpty)
    }

    @Test("an aws-chunked body without x-amz-decoded-content-length cannot be decoded to a known length")
    func missingDecodedLength() {
        #expect(throws: S3Error.self) {
            try build(["Content-Encoding": "aws-chunked"], payload: .streamingSigned)
        }
        do {
            _ = try build(["Content-Encoding": "aws-chunked"], payload: .streamingSigned)
        } catch {
            #expect((error as? S3Error)?.code == .missingContentLength)
        }
    }
}
