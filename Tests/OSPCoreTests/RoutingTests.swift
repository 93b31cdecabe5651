import NIOHTTP1
import S3Signing
import Testing

@testable import OSPCore

private let router = S3RequestRouter(virtualHostDomains: ["s3.local", "eu.s3.local"])

private func routed(
    _ method: String,
    _ target: String,
    host: String? = "127.0.0.1:6190",
    headers: [(String, String)] = []
) throws(S3Error) -> S3Route {
    let questionMark = target.firstIndex(of: "?")
    let rawPath = String(target[..<(questionMark ?? target.endIndex)])
    let rawQuery = questionMark.map { String(target[target.index(after: $0)...]) } ?? ""
    return try router.route(method: method, rawPath: rawPath, rawQuery: rawQuery, host: host, headers: HTTPHeaders(headers))
}

private func routingError(_ method: String, _ target: String, host: String? = "127.0.0.1", headers: [(String, String)] = []) -> S3Error? {
    do {
        _ = try routed(method, target, host: host, headers: headers)
        return nil
    } catch {
        return error
    }
}

// MARK: - Operations

struct OperationCase: Sendable, CustomTestStringConvertible {
    var method: String
    var target: String
    var copySource: String?
    var name: String
    var action: String
    var testDescription: String { "\(method) \(target)\(copySource == nil ? "" : " (copy)") → \(name)" }

    init(_ method: String, _ target: String, copySource: String? = nil, _ name: String, _ action: String) {
        self.method = method
        self.target = target
        self.copySource = copySource
        self.name = name
        self.action = action
    }
}

private let operationCases: [OperationCase] = [
    // Service
    .init("GET", "/", "ListBuckets", "s3:ListAllMyBuckets"),
    .init("GET", "/?x-id=ListBuckets&max-buckets=10", "ListBuckets", "s3:ListAllMyBuckets"),
    .init("HEAD", "/", "Unknown", "s3:Unknown"),
    .init("GET", "/?acl", "Unknown", "s3:Unknown"),

    // Bucket reads
    .init("HEAD", "/bucket", "HeadBucket", "s3:ListBucket"),
    .init("GET", "/bucket", "ListObjects", "s3:ListBucket"),
    .init("GET", "/bucket/?prefix=a%2Fb&delimiter=%2F&max-keys=10&encoding-type=url", "ListObjects", "s3:ListBucket"),
    .init("GET", "/bucket?list-type=2&prefix=x&continuation-token=abc&start-after=k&fetch-owner=true", "ListObjectsV2", "s3:ListBucket"),
    .init("GET", "/bucket?list-type=3", "Unknown", "s3:Unknown"),
    .init("GET", "/bucket?versions&key-marker=a&version-id-marker=b", "ListObjectVersions", "s3:ListBucketVersions"),
    .init("GET", "/bucket?uploads&max-uploads=5&upload-id-marker=u", "ListMultipartUploads", "s3:ListBucketMultipartUploads"),
    .init("GET", "/bucket?acl", "GetBucketAcl", "s3:GetBucketAcl"),
    .init("GET", "/bucket?acl=", "GetBucketAcl", "s3:GetBucketAcl"),
    .init("GET", "/bucket?tagging", "GetBucketTagging", "s3:GetBucketTagging"),
    .init("GET", "/bucket?versioning", "GetBucketVersioning", "s3:GetBucketVersioning"),
    .init("GET", "/bucket?object-lock", "GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"),
    .init("GET", "/bucket?cors", "GetBucketCors", "s3:GetBucketCORS"),
    .init("GET", "/bucket?lifecycle", "GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
    .init("GET", "/bucket?policy", "GetBucketPolicy", "s3:GetBucketPolicy"),
    .init("GET", "/bucket?policyStatus", "GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"),
    .init("GET", "/bucket?location", "GetBucketLocation", "s3:GetBucketLocation"),
    .init("GET", "/bucket?logging", "GetBucketLogging", "s3:GetBucketLogging"),
    .init("GET", "/bucket?notification", "GetBucketNotificationConfiguration", "s3:GetBucketNotification"),
    .init("GET", "/bucket?replication", "GetBucketReplication", "s3:GetReplicationConfiguration"),
    .init("GET", "/bucket?requestPayment", "GetBucketRequestPayment", "s3:GetBucketRequestPayment"),
    .init("GET", "/bucket?website", "GetBucketWebsite", "s3:GetBucketWebsite"),
    .init("GET", "/bucket?encryption", "GetBucketEncryption", "s3:GetEncryptionConfiguration"),
    .init("GET", "/bucket?accelerate", "GetBucketAccelerateConfiguration", "s3:GetAccelerateConfiguration"),
    .init("GET", "/bucket?analytics&id=report", "GetBucketAnalyticsConfiguration", "s3:GetAnalyticsConfiguration"),
    .init("GET", "/bucket?analytics", "ListBucketAnalyticsConfigurations", "s3:GetAnalyticsConfiguration"),
    .init("GET", "/bucket?inventory&id=daily", "GetBucketInventoryConfiguration", "s3:GetInventoryConfiguration"),
    .init("GET", "/bucket?inventory&continuation-token=t", "ListBucketInventoryConfigurations", "s3:GetInventoryConfiguration"),
    .init("GET", "/bucket?metrics&id=all", "GetBucketMetricsConfiguration", "s3:GetMetricsConfiguration"),
    .init("GET", "/bucket?metrics", "ListBucketMetricsConfigurations", "s3:GetMetricsConfiguration"),
    .init("GET", "/bucket?intelligent-tiering&id=tier", "GetBucketIntelligentTieringConfiguration", "s3:GetIntelligentTieringConfiguration"),
    .init("GET", "/bucket?intelligent-tiering", "ListBucketIntelligentTieringConfigurations", "s3:GetIntelligentTieringConfiguration"),
    .init("GET", "/bucket?ownershipControls", "GetBucketOwnershipControls", "s3:GetBucketOwnershipControls"),
    .init("GET", "/bucket?publicAccessBlock", "GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),

    // Bucket writes
    .init("PUT", "/bucket", "CreateBucket", "s3:CreateBucket"),
    .init("PUT", "/bucket/", "CreateBucket", "s3:CreateBucket"),
    .init("PUT", "/bucket?acl", "PutBucketAcl", "s3:PutBucketAcl"),
    .init("PUT", "/bucket?tagging", "PutBucketTagging", "s3:PutBucketTagging"),
    .init("PUT", "/bucket?versioning", "PutBucketVersioning", "s3:PutBucketVersioning"),
    .init("PUT", "/bucket?object-lock", "PutObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration"),
    .init("PUT", "/bucket?cors", "PutBucketCors", "s3:PutBucketCORS"),
    .init("PUT", "/bucket?lifecycle", "PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
    .init("PUT", "/bucket?policy", "PutBucketPolicy", "s3:PutBucketPolicy"),
    .init("PUT", "/bucket?logging", "PutBucketLogging", "s3:PutBucketLogging"),
    .init("PUT", "/bucket?notification", "PutBucketNotificationConfiguration", "s3:PutBucketNotification"),
    .init("PUT", "/bucket?replication", "PutBucketReplication", "s3:PutReplicationConfiguration"),
    .init("PUT", "/bucket?requestPayment", "PutBucketRequestPayment", "s3:PutBucketRequestPayment"),
    .init("PUT", "/bucket?website", "PutBucketWebsite", "s3:PutBucketWebsite"),
    .init("PUT", "/bucket?encryption", "PutBucketEncryption", "s3:PutEncryptionConfiguration"),
    .init("PUT", "/bucket?accelerate", "PutBucketAccelerateConfiguration", "s3:PutAccelerateConfiguration"),
    .init("PUT", "/bucket?analytics&id=report", "PutBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration"),
    .init("PUT", "/bucket?inventory&id=daily", "PutBucketInventoryConfiguration", "s3:PutInventoryConfiguration"),
    .init("PUT", "/bucket?metrics&id=all", "PutBucketMetricsConfiguration", "s3:PutMetricsConfiguration"),
    .init("PUT", "/bucket?intelligent-tiering&id=tier", "PutBucketIntelligentTieringConfiguration", "s3:PutIntelligentTieringConfiguration"),
    .init("PUT", "/bucket?ownershipControls", "PutBucketOwnershipControls", "s3:PutBucketOwnershipControls"),
    .init("PUT", "/bucket?publicAccessBlock", "PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
    .init("POST", "/bucket?delete", "DeleteObjects", "s3:DeleteObject"),
    .init("POST", "/bucket?delete=", "DeleteObjects", "s3:DeleteObject"),
    .init("POST", "/bucket", "PostObject", "s3:PutObject"),

    // Bucket deletes
    .init("DELETE", "/bucket", "DeleteBucket", "s3:DeleteBucket"),
    .init("DELETE", "/bucket?tagging", "DeleteBucketTagging", "s3:PutBucketTagging"),
    .init("DELETE", "/bucket?cors", "DeleteBucketCors", "s3:PutBucketCORS"),
    .init("DELETE", "/bucket?lifecycle", "DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"),
    .init("DELETE", "/bucket?policy", "DeleteBucketPolicy", "s3:DeleteBucketPolicy"),
    .init("DELETE", "/bucket?replication", "DeleteBucketReplication", "s3:PutReplicationConfiguration"),
    .init("DELETE", "/bucket?website", "DeleteBucketWebsite", "s3:DeleteBucketWebsite"),
    .init("DELETE", "/bucket?encryption", "DeleteBucketEncryption", "s3:PutEncryptionConfiguration"),
    .init("DELETE", "/bucket?analytics&id=report", "DeleteBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration"),
    .init("DELETE", "/bucket?inventory&id=daily", "DeleteBucketInventoryConfiguration", "s3:PutInventoryConfiguration"),
    .init("DELETE", "/bucket?metrics&id=all", "DeleteBucketMetricsConfiguration", "s3:PutMetricsConfiguration"),
    .init("DELETE", "/bucket?intelligent-tiering&id=tier", "DeleteBucketIntelligentTieringConfiguration", "s3:PutIntelligentTieringConfiguration"),
    .init("DELETE", "/bucket?ownershipControls", "DeleteBucketOwnershipControls", "s3:PutBucketOwnershipControls"),
    .init("DELETE", "/bucket?publicAccessBlock", "DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock"),

    // Object reads
    .init("GET", "/bucket/key", "GetObject", "s3:GetObject"),
    .init("GET", "/bucket/key?versionId=3%2FL4kqtJlcpXro", "GetObject", "s3:GetObjectVersion"),
    .init("GET", "/bucket/key?partNumber=2", "GetObject", "s3:GetObject"),
    .init("GET", "/bucket/key?response-content-type=text%2Fplain&response-content-disposition=attachment", "GetObject", "s3:GetObject"),
    .init("GET", "/bucket/key?x-id=GetObject", "GetObject", "s3:GetObject"),
    .init("GET", "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=abc", "GetObject", "s3:GetObject"),
    .init("GET", "/bucket/key?AWSAccessKeyId=AK&Expires=1700000000&Signature=abc%3D", "GetObject", "s3:GetObject"),
    .init("HEAD", "/bucket/key", "HeadObject", "s3:GetObject"),
    .init("HEAD", "/bucket/key?versionId=v1", "HeadObject", "s3:GetObjectVersion"),
    .init("GET", "/bucket/key?acl", "GetObjectAcl", "s3:GetObjectAcl"),
    .init("GET", "/bucket/key?acl&versionId=v1", "GetObjectAcl", "s3:GetObjectVersionAcl"),
    .init("GET", "/bucket/key?tagging", "GetObjectTagging", "s3:GetObjectTagging"),
    .init("GET", "/bucket/key?tagging&versionId=v1", "GetObjectTagging", "s3:GetObjectVersionTagging"),
    .init("GET", "/bucket/key?retention", "GetObjectRetention", "s3:GetObjectRetention"),
    .init("GET", "/bucket/key?legal-hold", "GetObjectLegalHold", "s3:GetObjectLegalHold"),
    .init("GET", "/bucket/key?attributes", "GetObjectAttributes", "s3:GetObjectAttributes"),
    .init("GET", "/bucket/key?attributes&versionId=v1", "GetObjectAttributes", "s3:GetObjectVersionAttributes"),
    .init("GET", "/bucket/key?torrent", "GetObjectTorrent", "s3:GetObjectTorrent"),
    .init("GET", "/bucket/key?uploadId=u1&max-parts=10&part-number-marker=2", "ListParts", "s3:ListMultipartUploadParts"),
    .init("POST", "/bucket/key?select&select-type=2", "SelectObjectContent", "s3:GetObject"),

    // Object writes
    .init("PUT", "/bucket/key", "PutObject", "s3:PutObject"),
    .init("PUT", "/bucket/key", copySource: "/src/k", "CopyObject", "s3:PutObject"),
    .init("PUT", "/bucket/key?partNumber=1&uploadId=u1", "UploadPart", "s3:PutObject"),
    .init("PUT", "/bucket/key?partNumber=1&uploadId=u1", copySource: "src/k", "UploadPartCopy", "s3:PutObject"),
    .init("PUT", "/bucket/key?acl", "PutObjectAcl", "s3:PutObjectAcl"),
    .init("PUT", "/bucket/key?acl&versionId=v1", "PutObjectAcl", "s3:PutObjectVersionAcl"),
    .init("PUT", "/bucket/key?tagging", "PutObjectTagging", "s3:PutObjectTagging"),
    .init("PUT", "/bucket/key?tagging&versionId=v1", "PutObjectTagging", "s3:PutObjectVersionTagging"),
    .init("PUT", "/bucket/key?retention", "PutObjectRetention", "s3:PutObjectRetention"),
    .init("PUT", "/bucket/key?legal-hold", "PutObjectLegalHold", "s3:PutObjectLegalHold"),
    .init("POST", "/bucket/key?uploads", "CreateMultipartUpload", "s3:PutObject"),
    .init("POST", "/bucket/key?uploads=", "CreateMultipartUpload", "s3:PutObject"),
    .init("POST", "/bucket/key?uploadId=u1", "CompleteMultipartUpload", "s3:PutObject"),
    .init("POST", "/bucket/key?restore", "RestoreObject", "s3:RestoreObject"),
    .init("POST", "/bucket/key?restore&versionId=v1", "RestoreObject", "s3:RestoreObject"),

    // Object deletes
    .init("DELETE", "/bucket/key", "DeleteObject", "s3:DeleteObject"),
    .init("DELETE", "/bucket/key?versionId=v1", "DeleteObject", "s3:DeleteObjectVersion"),
    .init("DELETE", "/bucket/key?tagging", "DeleteObjectTagging", "s3:DeleteObjectTagging"),
    .init("DELETE", "/bucket/key?tagging&versionId=v1", "DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
    .init("DELETE", "/bucket/key?uploadId=u1", "AbortMultipartUpload", "s3:AbortMultipartUpload"),

    // Not recognised: forwarded only if a policy allows s3:Unknown
    .init("PATCH", "/bucket/key", "Unknown", "s3:Unknown"),
    .init("get", "/bucket/key", "Unknown", "s3:Unknown"),
    .init("PROPFIND", "/bucket", "Unknown", "s3:Unknown"),
    .init("POST", "/bucket/key", "Unknown", "s3:Unknown"),
    .init("GET", "/bucket/key?policy", "Unknown", "s3:Unknown"),
    .init("GET", "/bucket/key?uploads", "Unknown", "s3:Unknown"),
    .init("PUT", "/bucket?uploadId=u1", "Unknown", "s3:Unknown"),
    .init("GET", "/bucket?newSubresource", "Unknown", "s3:Unknown"),
    .init("GET", "/bucket/key?newSubresource=1", "Unknown", "s3:Unknown"),
    .init("PUT", "/bucket?tagging&policy", "Unknown", "s3:Unknown"),
    .init("GET", "/bucket?versions&list-type=2", "Unknown", "s3:Unknown"),
    .init("HEAD", "/bucket?acl", "Unknown", "s3:Unknown"),
    .init("OPTIONS", "/bucket/key", "PreflightRequest", "s3:Unknown"),
    .init("OPTIONS", "/", "PreflightRequest", "s3:Unknown"),
]

@Suite("Routing: operations")
struct RoutingOperationTests {
    @Test(arguments: operationCases)
    func operation(_ testCase: OperationCase) throws {
        let headers = testCase.copySource.map { [("x-amz-copy-source", $0)] } ?? []
        let route = try routed(testCase.method, testCase.target, headers: headers)
        #expect(route.operation == S3Operation(name: testCase.name, action: testCase.action))
    }

    @Test("no subresource that selects an operation looks like an x-amz- field (the router skips those unseen)")
    func noSubresourceIsAnAmzField() {
        #expect(!S3OperationTable.selectingSubresources.isEmpty)
        for name in S3OperationTable.selectingSubresources {
            #expect(!name.lowercased().hasPrefix("x-amz-"), "\(name)")
        }
    }

    @Test("the same request routes the same under virtual-host addressing", arguments: operationCases)
    func operationVirtualHost(_ testCase: OperationCase) throws {
        // "/bucket/key?q" path style is "bucket.s3.local" + "/key?q" virtual-host style.
        guard testCase.target.hasPrefix("/bucket") else { return }
        let target = String(testCase.target.dropFirst("/bucket".count))
        let headers = testCase.copySource.map { [("x-amz-copy-source", $0)] } ?? []
        let route = try routed(testCase.method, target.hasPrefix("/") ? target : "/" + target, host: "bucket.s3.local", headers: headers)
        #expect(route.bucket == "bucket")
        #expect(route.operation == S3Operation(name: testCase.name, action: testCase.action))
    }
}

// MARK: - Addressing

struct AddressingCase: Sendable, CustomTestStringConvertible {
    var host: String?
    var target: String
    var bucket: String?
    var key: String?
    var rawKeyPath: String
    var addressing: AddressingMode
    var testDescription: String { "\(host ?? "<no host>") \(target)" }
}

private let addressingCases: [AddressingCase] = [
    .init(host: "bucket.s3.local", target: "/key", bucket: "bucket", key: "key", rawKeyPath: "/key", addressing: .virtualHost(domain: "s3.local")),
    .init(host: "bucket.s3.local:6190", target: "/a/b", bucket: "bucket", key: "a/b", rawKeyPath: "/a/b", addressing: .virtualHost(domain: "s3.local")),
    .init(host: "my.dotted.bucket.s3.local", target: "/k", bucket: "my.dotted.bucket", key: "k", rawKeyPath: "/k", addressing: .virtualHost(domain: "s3.local")),
    .init(host: "Bucket.S3.LOCAL", target: "/k", bucket: "bucket", key: "k", rawKeyPath: "/k", addressing: .virtualHost(domain: "s3.local")),
    .init(host: "bucket.s3.local.", target: "/k", bucket: "bucket", key: "k", rawKeyPath: "/k", addressing: .virtualHost(domain: "s3.local")),
    .init(host: "bucket.eu.s3.local", target: "/k", bucket: "bucket", key: "k", rawKeyPath: "/k", addressing: .virtualHost(domain: "eu.s3.local")),
    .init(host: "bucket.s3.local", target: "/", bucket: "bucket", key: nil, rawKeyPath: "/", addressing: .virtualHost(domain: "s3.local")),
    .init(host: "bucket.s3.local", target: "/bucket/key", bucket: "bucket", key: "bucket/key", rawKeyPath: "/bucket/key", addressing: .virtualHost(domain: "s3.local")),
    .init(host: "s3.local", target: "/bucket/key", bucket: "bucket", key: "key", rawKeyPath: "/key", addressing: .path),
    .init(host: "s3.local:6190", target: "/bucket", bucket: "bucket", key: nil, rawKeyPath: "", addressing: .path),
    .init(host: "127.0.0.1:6190", target: "/bucket/", bucket: "bucket", key: nil, rawKeyPath: "/", addressing: .path),
    .init(host: "localhost", target: "/bucket/key", bucket: "bucket", key: "key", rawKeyPath: "/key", addressing: .path),
    .init(host: "[::1]:6190", target: "/bucket/key", bucket: "bucket", key: "key", rawKeyPath: "/key", addressing: .path),
    .init(host: "bucket.other.example", target: "/bucket/key", bucket: "bucket", key: "key", rawKeyPath: "/key", addressing: .path),
    .init(host: "xs3.local", target: "/bucket/key", bucket: "bucket", key: "key", rawKeyPath: "/key", addressing: .path),
    .init(host: nil, target: "/bucket/key", bucket: "bucket", key: "key", rawKeyPath: "/key", addressing: .path),
    .init(host: nil, target: "/", bucket: nil, key: nil, rawKeyPath: "", addressing: .path),
    .init(host: "Legacy_Bucket.s3.local", target: "/k", bucket: "legacy_bucket", key: "k", rawKeyPath: "/k", addressing: .virtualHost(domain: "s3.local")),
    .init(host: nil, target: "/Legacy_Bucket/k", bucket: "Legacy_Bucket", key: "k", rawKeyPath: "/k", addressing: .path),
]

@Suite("Routing: addressing")
struct RoutingAddressingTests {
    @Test(arguments: addressingCases)
    func addressing(_ testCase: AddressingCase) throws {
        let route = try routed("GET", testCase.target, host: testCase.host)
        #expect(route.bucket == testCase.bucket)
        #expect(route.key == testCase.key)
        #expect(route.rawKeyPath == testCase.rawKeyPath)
        #expect(route.addressing == testCase.addressing)
    }

    @Test("without configured domains every host is path style")
    func noDomains() throws {
        let plain = S3RequestRouter(virtualHostDomains: [])
        let route = try plain.route(method: "GET", rawPath: "/bucket/key", rawQuery: "", host: "bucket.s3.local", headers: [:])
        #expect(route.addressing == .path)
        #expect(route.bucket == "bucket")
    }

    @Test("the Host header is taken when there is one, and two of them are InvalidRequest")
    func hostHeader() throws {
        #expect(try S3RequestRouter.host(of: HTTPHeaders([("Host", "bucket.s3.local")])) == "bucket.s3.local")
        #expect(try S3RequestRouter.host(of: HTTPHeaders([("x-amz-date", "20250101T000000Z")])) == nil)
        for pairs in [[("Host", "a.s3.local"), ("host", "b.s3.local")], [("HOST", "a"), ("Host", "a")]] {
            let error = #expect(throws: S3Error.self) { try S3RequestRouter.host(of: HTTPHeaders(pairs)) }
            #expect(error?.code == .invalidRequest)
        }
    }

    @Test("configured domains are normalised and tried longest first")
    func domainNormalisation() {
        let router = S3RequestRouter(virtualHostDomains: ["S3.Local.", "eu.s3.local", "s3.local", ""])
        #expect(router.virtualHostDomains == ["eu.s3.local", "s3.local"])
    }
}

// MARK: - Awkward keys

struct KeyCase: Sendable, CustomTestStringConvertible {
    var rawKeyPath: String
    var key: String
    var testDescription: String { rawKeyPath }
}

private let keyCases: [KeyCase] = [
    .init(rawKeyPath: "/a%2Bb", key: "a+b"),
    .init(rawKeyPath: "/my%20key", key: "my key"),
    .init(rawKeyPath: "/@()=&:,;$!*'", key: "@()=&:,;$!*'"),
    .init(rawKeyPath: "/%40%28%29%3D%26%3A%2C%3B%24%21%2A%27", key: "@()=&:,;$!*'"),
    .init(rawKeyPath: "/caf%C3%A9/%E6%97%A5%E6%9C%AC.txt", key: "café/日本.txt"),
    .init(rawKeyPath: "/café", key: "café"),
    .init(rawKeyPath: "/a//b", key: "a//b"),
    .init(rawKeyPath: "//leading", key: "/leading"),
    .init(rawKeyPath: "//", key: "/"),
    .init(rawKeyPath: "/dir/", key: "dir/"),
    .init(rawKeyPath: "/dir%2Ffile", key: "dir/file"),
    .init(rawKeyPath: "/%25", key: "%"),
    .init(rawKeyPath: "/~tilde-_.", key: "~tilde-_."),
]

@Suite("Routing: keys")
struct RoutingKeyTests {
    @Test("path style keeps the raw key path byte for byte and decodes the key", arguments: keyCases)
    func pathStyle(_ testCase: KeyCase) throws {
        let route = try routed("GET", "/bucket" + testCase.rawKeyPath)
        #expect(route.bucket == "bucket")
        #expect(route.key == testCase.key)
        #expect(route.rawKeyPath == testCase.rawKeyPath)
        #expect(route.operation.name == "GetObject")
    }

    @Test("virtual-host style does the same with the whole path", arguments: keyCases)
    func virtualHostStyle(_ testCase: KeyCase) throws {
        let route = try routed("GET", testCase.rawKeyPath, host: "bucket.s3.local")
        #expect(route.key == testCase.key)
        #expect(route.rawKeyPath == testCase.rawKeyPath)
    }

    @Test(
        "a raw + in a key is refused, path or virtual-host style, or in a copy source: AWS S3 reads it as a space, MinIO as a plus",
        arguments: ["/bucket/team/top+secret/plan", "/bucket/a+b", "/bucket/+"])
    func rawPlus(_ target: String) throws {
        #expect(routingError("GET", target) == S3RequestRouter.plusInKey)
        #expect(routingError("PUT", String(target.dropFirst("/bucket".count)), host: "bucket.s3.local") == S3RequestRouter.plusInKey)
        let copy = try #require(routingError("PUT", "/dest/key", headers: [("x-amz-copy-source", target)]))
        #expect(copy.code == .invalidArgument)
    }

    @Test("a question mark in the query does not leak into the key")
    func queryIsSeparate() throws {
        let route = try router.route(method: "GET", rawPath: "/bucket/a%3Fb", rawQuery: "versionId=x", host: nil, headers: [:])
        #expect(route.key == "a?b")
        #expect(route.operation.action == "s3:GetObjectVersion")
    }
}

// MARK: - Copy source

@Suite("Routing: x-amz-copy-source")
struct CopySourceTests {
    @Test("CopyObject carries the decoded source and rebuilds the header under an alias")
    func copyObject() throws {
        let route = try routed("PUT", "/dest-bucket/new%20key", headers: [("x-amz-copy-source", "/alias-bucket/path/to%20file%2B1.txt")])
        #expect(route.operation == S3Operation(name: "CopyObject", action: "s3:PutObject"))
        let source = try #require(route.copySource)
        #expect(source.bucket == "alias-bucket")
        #expect(source.key == "path/to file+1.txt")
        #expect(source.rawKey == "path/to%20file%2B1.txt")
        #expect(source.versionId == nil)
        #expect(source.action == "s3:GetObject")
        #expect(source.headerValue(backendBucket: "real-bucket") == "/real-bucket/path/to%20file%2B1.txt")
    }

    @Test("a versioned source keeps its versionId as sent")
    func versionedSource() throws {
        let source = try CopySource(headerValue: "src-bucket/k%C3%A9y?versionId=3%2FL4kq%2Btz")
        #expect(source == CopySource(bucket: "src-bucket", key: "kéy", rawKey: "k%C3%A9y", versionId: "3/L4kq+tz", rawVersionId: "3%2FL4kq%2Btz"))
        #expect(source.action == "s3:GetObjectVersion")
        #expect(source.headerValue(backendBucket: "real") == "/real/k%C3%A9y?versionId=3%2FL4kq%2Btz")
    }

    @Test("UploadPartCopy carries the source")
    func uploadPartCopy() throws {
        let route = try routed("PUT", "/dest/key?partNumber=3&uploadId=abc", headers: [("X-Amz-Copy-Source", "src/a/b")])
        #expect(route.operation.name == "UploadPartCopy")
        #expect(route.copySource?.bucket == "src")
        #expect(route.copySource?.key == "a/b")
    }

    @Test(
        "a source on any request but a copy is refused: osp authorizes no other request's source, and a backend ignoring an unknown parameter would copy",
        arguments: [
            ("PUT", "/dest/key?tagging"), ("PUT", "/dest/key?unknown=1"), ("PUT", "/dest/key?renameObject"),
            ("GET", "/dest/key"), ("POST", "/dest/key?uploads"), ("PUT", "/dest"), ("PATCH", "/dest/key"),
        ])
    func refusedElsewhere(method: String, target: String) throws {
        #expect(routingError(method, target, headers: [("x-amz-copy-source", "/src/secret")]) == S3RequestRouter.copySourceOutsideCopy)
        #expect(try routed("PUT", "/dest/key").copySource == nil)
    }

    @Test("a rename source (RenameObject, which osp does not support) is refused on any request")
    func renameSource() {
        for (method, target) in [("PUT", "/dest/key?renameObject"), ("PUT", "/dest/key")] {
            #expect(routingError(method, target, headers: [("x-amz-rename-source", "/dest/secret")]) == S3RequestRouter.renameSource)
        }
        #expect(routingError("PUT", "/dest/key?renameObject&X-Amz-Rename-Source=%2Fdest%2Fsecret") == S3RequestRouter.renameSource)
    }

    @Test(
        "CreateSession, whose answer is the backend's session credentials, is refused however it is asked",
        arguments: ["/dir--use1-az4--x-s3?session", "/bucket?session=&x-id=CreateSession", "/bucket?unknown=1&session",
                    "/bucket?se%73sion", "/bucket/key?session", "/?session"])
    func createSession(_ target: String) {
        #expect(routingError("GET", target) == S3RequestRouter.createSession)
    }

    @Test("a raw + in the source's version id is refused, as in the request's own")
    func plusInSourceVersion() throws {
        let error = try #require(routingError("PUT", "/dest/key", headers: [("x-amz-copy-source", "/src/k?versionId=a+b")]))
        #expect(error.code == .invalidArgument)
        #expect(try routed("PUT", "/dest/key", headers: [("x-amz-copy-source", "/src/k?versionId=a%2Bb")]).copySource?.versionId == "a+b")
    }

    @Test("a source without a key is refused", arguments: ["src-bucket", "/src-bucket", "src-bucket/", "/src-bucket/?versionId=1", ""])
    func missingKey(_ header: String) throws {
        let error = try #require(routingError("PUT", "/dest/key", headers: [("x-amz-copy-source", header)]))
        #expect(error == S3Error(.invalidArgument, "Invalid copy source"))
    }

    @Test("a malformed source is refused", arguments: ["/b%2Fc/key", "/src/k%zz", "/%20/key", "/src/key?versionId="])
    func malformed(_ header: String) throws {
        let error = try #require(routingError("PUT", "/dest/key", headers: [("x-amz-copy-source", header)]))
        #expect(error.code == .invalidArgument)
    }

    @Test(
        "a copy source in the query is refused, in any spelling: osp checks and rewrites only the header's",
        arguments: [
            ("PUT", "/dest/key?x-amz-copy-source=src%2Fsecret"), ("PUT", "/dest/key?X-Amz-Copy-Source=%2Fsrc%2Fk"),
            ("PUT", "/dest/key?partNumber=1&uploadId=u&x-amz-copy-source-range=bytes%3D0-9"),
            ("PUT", "/dest/key?x%2Damz%2Dcopy%2Dsource=src%2Fk"), ("GET", "/dest/key?x-amz-copy-source-if-match=e"),
        ])
    func inTheQuery(method: String, target: String) throws {
        #expect(routingError(method, target) == S3RequestRouter.copySourceInQuery)
    }

    @Test(
        "a query parameter a policy judges by that a backend could read otherwise is refused: a raw +, or the parameter twice",
        arguments: [
            "/b?list-type=2&prefix=team/top+secret/", "/b?prefix=a&prefix=b", "/b?delimiter=+", "/b?delimiter=/&delimiter=-",
            "/b?versions&prefix=x+y", "/b?max-keys=1&max-keys=1000", "/b?max-keys=+5",
            "/b/k?versionId=3/L4kqtJl+rmSp", "/b/k?versionId=v1&versionId=v2", "/b/k?tagging&versionId=a&versionId=b",
        ])
    func ambiguousListingParameters(_ target: String) throws {
        let error = try #require(routingError("GET", target))
        #expect(error.code == .invalidArgument)
    }

    @Test("an encoded plus or space in a prefix is read as sent", arguments: ["/b?prefix=a%2Bb", "/b?prefix=a%20b&delimiter=%2F"])
    func encodedListingParameters(_ target: String) throws {
        #expect(try routed("GET", target).operation.name.hasPrefix("List"))
    }

    @Test("a version id with an encoded plus is read as sent, and chooses the version action")
    func encodedVersionId() throws {
        #expect(try routed("GET", "/b/k?versionId=3%2FL4kqtJl%2BrmSp").operation.action == "s3:GetObjectVersion")
    }

    @Test(
        "a header that some servers take for the real method or path is refused: the backend would run what osp did not authorize",
        arguments: ["X-HTTP-Method-Override", "x-http-method", "X-Method-Override", "X-Original-URL", "x-rewrite-url"])
    func overridingHeaders(_ name: String) throws {
        let error = try #require(routingError("GET", "/b/k", headers: [(name, "DELETE")]))
        #expect(error.code == .invalidArgument)
        #expect(try routed("GET", "/b/k", headers: [("x-http-method-overridden", "no")]).operation.name == "GetObject")
    }

    @Test(
        "a backend extension that does more than the operation osp authorizes is NotImplemented, as a header or hoisted into the query",
        arguments: [
            ("PUT", "/b/team/batch.tar", [("X-Amz-Meta-Snowball-Auto-Extract", "true")]),
            ("PUT", "/b/team/batch.tar", [("x-amz-meta-minio-snowball-prefix", "/elsewhere/")]),
            ("DELETE", "/b", [("X-Minio-Force-Delete", "true")]),
            ("GET", "/b/team/archive.zip/inner", [("x-minio-extract", "true")]),
            ("PUT", "/b/team/batch.tar?X-Amz-Meta-Snowball-Auto-Extract=true", []),
            ("DELETE", "/b?x-minio-force-delete=true", []),
        ] as [(String, String, [(String, String)])])
    func backendExtensions(method: String, target: String, headers: [(String, String)]) throws {
        let error = try #require(routingError(method, target, headers: headers))
        #expect(error.code == .notImplemented)
    }

    @Test("ordinary metadata, even named like an extension's, passes")
    func ordinaryMetadata() throws {
        let route = try routed("PUT", "/b/k", headers: [("x-amz-meta-snowball", "yes"), ("x-amz-meta-minio", "1"), ("x-minio", "no dash")])
        #expect(route.operation.name == "PutObject")
    }

    @Test("two copy sources are refused")
    func twoSources() throws {
        let error = try #require(routingError("PUT", "/dest/key", headers: [("x-amz-copy-source", "a/b"), ("x-amz-copy-source", "c/d")]))
        #expect(error.code == .invalidArgument)
    }
}

// MARK: - Errors

struct RoutingErrorCase: Sendable, CustomTestStringConvertible {
    var method: String
    var target: String
    var host: String?
    var code: S3ErrorCode
    var testDescription: String { "\(method) \(host ?? "") \(target) → \(code.rawValue)" }

    init(_ method: String, _ target: String, host: String? = nil, _ code: S3ErrorCode) {
        self.method = method
        self.target = target
        self.host = host
        self.code = code
    }
}

private let routingErrorCases: [RoutingErrorCase] = [
    .init("CONNECT", "/bucket", .methodNotAllowed),
    .init("TRACE", "/", .methodNotAllowed),
    .init("GET", "*", .invalidURI),
    .init("GET", "http://bucket.s3.local/key", .invalidURI),
    .init("GET", "", .invalidURI),
    .init("GET", "/bucket/bad%zzkey", .invalidURI),
    .init("GET", "/bucket/truncated%4", .invalidURI),
    .init("GET", "/bucket/truncated%", .invalidURI),
    .init("GET", "/bucket/not-utf8%C3", .invalidURI),
    .init("GET", "/bad%zz", host: "bucket.s3.local", .invalidURI),
    .init("GET", "/b%2Fc/key", .invalidBucketName),
    .init("GET", "/b%20c/key", .invalidBucketName),
    .init("GET", "/b%00c", .invalidBucketName),
    .init("GET", "/b%zz/key", .invalidBucketName),
    .init("GET", "/b!c/key", .invalidBucketName),
    .init("GET", "//key", .invalidBucketName),
    .init("GET", "/\(String(repeating: "b", count: 256))/key", .invalidBucketName),
    .init("GET", "/key", host: "bad!bucket.s3.local", .invalidBucketName),
]

@Suite("Routing: refused requests")
struct RoutingErrorTests {
    @Test(arguments: routingErrorCases)
    func refused(_ testCase: RoutingErrorCase) throws {
        let error = try #require(routingError(testCase.method, testCase.target, host: testCase.host))
        #expect(error.code == testCase.code)
    }

    @Test("the longest acceptable bucket name routes")
    func longBucket() throws {
        let name = String(repeating: "b", count: 255)
        #expect(try routed("GET", "/\(name)/key").bucket == name)
    }
}

// MARK: - Dot segments

/// Raw key paths (after the bucket) whose decoded key has a `.` or `..` segment, however spelled.
private let dotSegmentPaths = [
    "/allowed/../secret", "/allowed/%2e%2e/secret", "/allowed/%2E%2E/secret", "/allowed%2f..%2fsecret",
    "/allowed/..%2fsecret", "/allowed/./secret", "/v1.2/./", "/./secret", "/allowed/..", "/..", "/.", "/allowed/..%5csecret",
    "/allowed/%00/../secret", "/a/./b/../c",
]

/// Keys with dots that are not whole segments: ordinary keys, routed as before.
private let keysWithDots = [
    "/allowed/...", "/allowed/..a", "/allowed/a..", "/allowed/.hidden", "/allowed/..;/secret",
    "/allowed/%252e%252e/secret", "/file.tar.gz", "/x/.../y",
]

@Suite("Routing: keys with dot segments")
struct RoutingDotSegmentTests {
    @Test("refused by default as InvalidArgument, path and virtual-host style", arguments: dotSegmentPaths)
    func refused(_ rawKeyPath: String) throws {
        #expect(routingError("GET", "/bucket" + rawKeyPath)?.code == .invalidArgument)
        #expect(routingError("PUT", rawKeyPath, host: "bucket.s3.local")?.code == .invalidArgument)
    }

    @Test("dots inside a segment, or a segment of three, are ordinary keys", arguments: keysWithDots)
    func ordinary(_ rawKeyPath: String) throws {
        let route = try routed("GET", "/bucket" + rawKeyPath)
        #expect(route.rawKeyPath == rawKeyPath)
    }

    @Test("a copy source with a dot segment is refused too")
    func copySource() {
        let error = routingError("PUT", "/bucket/allowed/copy", headers: [("x-amz-copy-source", "/bucket/allowed/%2E%2E/secret")])
        #expect(error?.code == .invalidArgument)
        #expect(routingError("PUT", "/bucket/allowed/copy", headers: [("x-amz-copy-source", "/bucket/allowed/...")]) == nil)
    }

    @Test("`dot_segment_keys: literal` routes them as the literal key, as S3 does")
    func literal() throws {
        let literal = S3RequestRouter(virtualHostDomains: [], dotSegmentKeys: .literal)
        let route = try literal.route(
            method: "PUT", rawPath: "/bucket/allowed/%2e%2e/secret", rawQuery: "", host: nil,
            headers: ["x-amz-copy-source": "/bucket/a/../b"]
        )
        #expect(route.key == "allowed/../secret")
        #expect(route.rawKeyPath == "/allowed/%2e%2e/secret")
        #expect(route.copySource?.key == "a/../b")
    }

    @Test("the segment test itself", arguments: [
        (".", true), ("..", true), ("a/.", true), ("./a", true), ("a\\..\\b", true), ("a//../b", true),
        ("", false), ("...", false), (".a", false), ("a.", false), ("a/b", false), ("a/.../b", false), ("a..b", false),
    ])
    func segments(_ key: String, _ expected: Bool) {
        #expect(DotSegmentKeys.hasDotSegment(key) == expected)
    }
}

@Suite("Routing: what a write also sets, and what a delete overrides")
struct WriteSettingsTests {
    @Test(
        "an object write that sets an ACL, tags, a retention or a legal hold says so (each needs its own permission); nothing else does",
        arguments: [
            ("PUT", "/b/k", [("x-amz-acl", "public-read")], WriteSettings.acl),
            ("PUT", "/b/k", [("X-Amz-Grant-Full-Control", "id=x")], .acl),
            ("PUT", "/b/k", [("x-amz-tagging", "a=b"), ("x-amz-grant-read", "uri=y")], [.acl, .tagging]),
            ("PUT", "/b/k", [("x-amz-tagging", "a=b")], .tagging),
            ("PUT", "/b/k", [("x-amz-acl", "private"), ("x-amz-copy-source", "/b/src")], .acl),
            ("POST", "/b/k?uploads", [("x-amz-acl", "public-read")], .acl),
            ("PUT", "/b/k", [("x-amz-object-lock-mode", "COMPLIANCE"), ("x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z")], .retention),
            ("PUT", "/b/k", [("x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z")], .retention),
            ("POST", "/b/k?uploads", [("x-amz-object-lock-legal-hold", "ON")], .legalHold),
            ("PUT", "/b/k", [("x-amz-object-lock-legal-hold", "OFF"), ("x-amz-copy-source", "/b/src")], .legalHold),
            ("PUT", "/b/k", [("x-amz-meta-acl", "public-read")], []),
            ("PUT", "/b/k?partNumber=1&uploadId=u", [("x-amz-acl", "public-read")], []),
            ("GET", "/b/k", [("x-amz-acl", "public-read")], []),
            ("PUT", "/b/k?acl", [("x-amz-acl", "public-read")], []),
            ("PUT", "/b/k?retention", [("x-amz-object-lock-mode", "GOVERNANCE")], []),
            ("PUT", "/b/k?retention", [("x-amz-bypass-governance-retention", "true")], .governanceBypass),
            ("DELETE", "/b/k", [("x-amz-bypass-governance-retention", "true")], .governanceBypass),
            ("DELETE", "/b/k?versionId=v1", [("X-Amz-Bypass-Governance-Retention", "false")], .governanceBypass),
            ("POST", "/b?delete", [("x-amz-bypass-governance-retention", "true")], .governanceBypass),
            ("DELETE", "/b/k", [], []),
            ("PUT", "/b/k", [("x-amz-bypass-governance-retention", "true")], []),
            ("GET", "/b/k", [("x-amz-bypass-governance-retention", "true")], []),
        ] as [(String, String, [(String, String)], WriteSettings)])
    func objectSettings(method: String, target: String, headers: [(String, String)], expected: WriteSettings) throws {
        let route = try routed(method, target, headers: headers)
        #expect(route.alsoSets == expected)
        #expect(route.asksOneQuestion == (expected.isEmpty && route.copySource == nil))
    }

    @Test(
        "an operation osp does not know counts every setting its headers name: a backend ignoring the unknown parameter may run a write",
        arguments: [
            ("PUT", "/b/k?unknown=1", [("x-amz-acl", "public-read")], WriteSettings([.acl, .bucketACL])),
            ("PATCH", "/b/k", [("x-amz-tagging", "a=b"), ("x-amz-object-lock-legal-hold", "ON")], [.tagging, .legalHold]),
            ("POST", "/b?unknown", [("x-amz-bucket-object-lock-enabled", "true"), ("x-amz-object-ownership", "ObjectWriter")],
             [.bucketObjectLock, .bucketOwnership]),
            ("DELETE", "/b/k?unknown", [("x-amz-bypass-governance-retention", "true")], .governanceBypass),
            ("PUT", "/b/k?unknown=1", [], []),
            ("GET", "/b/k?unknown=1", [("x-amz-acl", "public-read")], []),
        ] as [(String, String, [(String, String)], WriteSettings)])
    func unknownOperationSettings(method: String, target: String, headers: [(String, String)], expected: WriteSettings) throws {
        let route = try routed(method, target, headers: headers)
        #expect(route.operation == .unknown)
        #expect(route.alsoSets == expected)
    }

    @Test(
        "CreateBucket that sets the bucket's ACL, enables Object Lock or chooses object ownership says so; a plain one does not",
        arguments: [
            ([("x-amz-acl", "public-read")], WriteSettings.bucketACL),
            ([("x-amz-grant-write", "id=x"), ("x-amz-grant-read-acp", "id=x")], .bucketACL),
            ([("x-amz-bucket-object-lock-enabled", "true")], .bucketObjectLock),
            ([("x-amz-object-ownership", "ObjectWriter")], .bucketOwnership),
            ([("x-amz-acl", "private"), ("x-amz-bucket-object-lock-enabled", "true"), ("x-amz-object-ownership", "BucketOwnerEnforced")],
             [.bucketACL, .bucketObjectLock, .bucketOwnership]),
            ([("x-amz-tagging", "a=b"), ("x-amz-object-lock-legal-hold", "ON")], []),
            ([], []),
        ] as [([(String, String)], WriteSettings)])
    func bucketSettings(headers: [(String, String)], expected: WriteSettings) throws {
        let route = try routed("PUT", "/newbucket", headers: headers)
        #expect(route.operation.name == "CreateBucket")
        #expect(route.alsoSets == expected)
        // The ACL of an existing bucket is its own operation, which asks s3:PutBucketAcl itself.
        #expect(try routed("PUT", "/newbucket?acl", headers: headers).alsoSets == [])
    }

    @Test(
        "a setting named as a query parameter counts like its header, in any case spelling: SDKs hoist x-amz-* headers into presigned URLs",
        arguments: [
            ("PUT", "/b/k?x-amz-acl=public-read", WriteSettings.acl),
            ("PUT", "/b/k?X-Amz-Grant-Read=uri%3Dall", .acl),
            ("PUT", "/b/k?x-amz-tagging=a%3Db&X-Amz-Date=20260101T000000Z", .tagging),
            ("POST", "/b/k?uploads&x-amz-object-lock-mode=COMPLIANCE", .retention),
            ("PUT", "/b/k?x-amz-object-lock-legal-hold=ON", .legalHold),
            ("PUT", "/b/k?x%2Damz%2Dacl=public-read", .acl),
            ("DELETE", "/b/k?x-amz-bypass-governance-retention=true", .governanceBypass),
            ("PUT", "/newbucket?x-amz-acl=public-read&x-amz-object-ownership=ObjectWriter", [.bucketACL, .bucketOwnership]),
            ("PUT", "/b/k?x-amz-meta-acl=public-read", []),
            ("GET", "/b/k?x-amz-acl=public-read", []),
        ] as [(String, String, WriteSettings)])
    func settingsInTheQuery(method: String, target: String, expected: WriteSettings) throws {
        #expect(try routed(method, target).alsoSets == expected)
    }

    @Test("each setting names the permission AWS asks for it, in a fixed order")
    func actions() {
        #expect(WriteSettings([.legalHold, .acl, .retention, .tagging]).actions
            == ["s3:PutObjectAcl", "s3:PutObjectTagging", "s3:PutObjectRetention", "s3:PutObjectLegalHold"])
        #expect(WriteSettings([.bucketOwnership, .bucketObjectLock, .bucketACL]).actions
            == ["s3:PutBucketAcl", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning", "s3:PutBucketOwnershipControls"])
        #expect(WriteSettings.governanceBypass.actions == ["s3:BypassGovernanceRetention"])
        #expect(WriteSettings().actions == [])
    }

    @Test("a form sets an ACL with its acl or x-amz-grant-* fields, tags with its tagging field")
    func formFields() {
        #expect(WriteSettings(formField: { ["acl": "public-read"][$0] }) == .acl)
        let fields = ["x-amz-grant-read": "id=x", "tagging": "<Tagging/>"]
        #expect(WriteSettings(formField: { fields[$0] }) == [.acl, .tagging])
        #expect(WriteSettings(formField: { ["key": "k", "x-amz-meta-acl": "x"][$0] }) == [])
        // Fields named like the headers count too: fail closed on a backend that reads them.
        #expect(WriteSettings(formField: { ["x-amz-acl": "public-read", "x-amz-tagging": "a=b"][$0] }) == [.acl, .tagging])
        #expect(WriteSettings(formField: { ["x-amz-object-lock-mode": "COMPLIANCE", "x-amz-object-lock-legal-hold": "ON"][$0] })
            == [.retention, .legalHold])
    }
}
