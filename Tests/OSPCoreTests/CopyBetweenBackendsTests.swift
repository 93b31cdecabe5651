import NIOCore
import NIOHTTP1
import S3Signing
import Testing

@testable import OSPCore

/// How a copy between two backends is spelled as a GET of the source and a write of the
/// destination, and what the client is answered.
@Suite("Copy between backends")
struct CopyBetweenBackendsTests {
    func source(_ headers: [(String, String)], status: HTTPResponseStatus = .ok) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(headers))
    }

    let stored = [
        ("Content-Length", "1234"), ("Content-Type", "text/csv"), ("Cache-Control", "max-age=60"),
        ("x-amz-meta-team", "blue"), ("ETag", "\"abc\""), ("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT"),
        ("x-amz-version-id", "v-source"),
    ]

    @Test func theCopysConditionsAndSourceOptionsBecomeTheGETs() {
        let client = HTTPHeaders([
            ("x-amz-copy-source", "/a/b"), ("x-amz-copy-source-if-match", "\"e1\""),
            ("x-amz-copy-source-if-none-match", "\"e2\""), ("x-amz-copy-source-if-modified-since", "Mon, 30 Nov 2026 00:00:00 GMT"),
            ("x-amz-copy-source-if-unmodified-since", "Tue, 01 Dec 2026 00:00:00 GMT"), ("x-amz-copy-source-range", "bytes=0-99"),
            ("x-amz-copy-source-server-side-encryption-customer-algorithm", "AES256"),
            ("x-amz-copy-source-server-side-encryption-customer-key", "a2V5"),
            ("x-amz-copy-source-server-side-encryption-customer-key-MD5", "bWQ1"),
            ("x-amz-source-expected-bucket-owner", "111122223333"),
            ("x-amz-meta-new", "not for the GET"), ("x-amz-server-side-encryption", "aws:kms"),
        ])
        let get = CopyBetweenBackends.sourceHeaders(client)
        #expect(get.map { "\($0.name): \($0.value)" } == [
            "if-match: \"e1\"", "if-none-match: \"e2\"", "if-modified-since: Mon, 30 Nov 2026 00:00:00 GMT",
            "if-unmodified-since: Tue, 01 Dec 2026 00:00:00 GMT", "range: bytes=0-99",
            "x-amz-server-side-encryption-customer-algorithm: AES256", "x-amz-server-side-encryption-customer-key: a2V5",
            "x-amz-server-side-encryption-customer-key-md5: bWQ1", "x-amz-expected-bucket-owner: 111122223333",
        ])
        #expect(CopyBetweenBackends.readsRange(client))
        #expect(!CopyBetweenBackends.readsRange(HTTPHeaders([("x-amz-copy-source", "/a/b")])))
    }

    @Test func byDefaultTheSourcesMetadataAndContentHeadersAreCopiedNotTheClients() throws {
        let client = HTTPHeaders([
            ("Host", "osp"), ("x-amz-copy-source", "/a/b"), ("Content-Length", "0"), ("Content-Type", "application/json"),
            ("x-amz-meta-team", "red"), ("x-amz-storage-class", "STANDARD_IA"), ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-acl", "private"),
        ])
        let write = try CopyBetweenBackends.destinationHeaders(client, operation: "CopyObject", source: source(stored))
        #expect(write.map { "\($0.name): \($0.value)" } == [
            "Host: osp", "x-amz-storage-class: STANDARD_IA", "x-amz-server-side-encryption: AES256", "x-amz-acl: private",
            "Content-Type: text/csv", "Cache-Control: max-age=60", "x-amz-meta-team: blue", "content-length: 1234",
        ])
    }

    @Test func replaceKeepsTheClientsMetadataAndDropsTheCopysOwnHeaders() throws {
        let client = HTTPHeaders([
            ("x-amz-copy-source", "/a/b"), ("x-amz-copy-source-if-match", "\"e\""), ("x-amz-metadata-directive", "REPLACE"),
            ("Content-Type", "application/json"), ("x-amz-meta-team", "red"), ("Content-MD5", "x"),
            ("x-amz-source-expected-bucket-owner", "1"),
        ])
        let write = try CopyBetweenBackends.destinationHeaders(client, operation: "CopyObject", source: source(stored))
        #expect(write.map { "\($0.name): \($0.value)" } == [
            "Content-Type: application/json", "x-amz-meta-team: red", "content-length: 1234",
        ])
    }

    @Test func aPartCopyWritesBytesOnly() throws {
        let client = HTTPHeaders([
            ("x-amz-copy-source", "/a/b"), ("x-amz-copy-source-range", "bytes=0-1233"),
            ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ])
        let write = try CopyBetweenBackends.destinationHeaders(client, operation: "UploadPartCopy", source: source(stored, status: .partialContent))
        #expect(write.map { "\($0.name): \($0.value)" } == [
            "x-amz-server-side-encryption-customer-algorithm: AES256", "content-length: 1234",
        ])
    }

    @Test func tagsTheGETCannotCarryRefuseTheCopyUnlessReplaced() throws {
        let tagged = source(stored + [("x-amz-tagging-count", "2")])
        let copying = HTTPHeaders([("x-amz-copy-source", "/a/b"), ("x-amz-tagging", "t=1")])
        #expect(throws: S3Error.self) {
            try CopyBetweenBackends.destinationHeaders(copying, operation: "CopyObject", source: tagged)
        }
        let replacing = HTTPHeaders([("x-amz-copy-source", "/a/b"), ("x-amz-tagging-directive", "REPLACE"), ("x-amz-tagging", "t=1")])
        let write = try CopyBetweenBackends.destinationHeaders(replacing, operation: "CopyObject", source: tagged)
        #expect(write.first(name: "x-amz-tagging") == "t=1")
        // Without tags on the source, COPY has nothing to carry: the client's tags are not set either, as at S3.
        let untagged = try CopyBetweenBackends.destinationHeaders(copying, operation: "CopyObject", source: source(stored))
        #expect(!untagged.contains(name: "x-amz-tagging"))
    }

    @Test func anUnknownDirectiveIsInvalidArgument() {
        let client = HTTPHeaders([("x-amz-copy-source", "/a/b"), ("x-amz-metadata-directive", "MERGE")])
        do {
            _ = try CopyBetweenBackends.destinationHeaders(client, operation: "CopyObject", source: source(stored))
            Issue.record("MERGE was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }

    @Test func theSourceMustDeclareALengthWithinS3sCopyLimit() throws {
        #expect(try CopyBetweenBackends.sourceLength(source([("Content-Length", "0")])) == 0)
        #expect(try CopyBetweenBackends.sourceLength(source([("Content-Length", "5368709120")])) == 5 << 30)
        for (headers, code) in [
            ([("Content-Length", "5368709121")], S3ErrorCode.invalidRequest),
            ([("Transfer-Encoding", "chunked")], .notImplemented),
            ([("Content-Length", "-1")], .notImplemented),
        ] {
            do {
                _ = try CopyBetweenBackends.sourceLength(source(headers))
                Issue.record("accepted \(headers)")
            } catch {
                #expect(error.code == code)
            }
        }
    }

    @Test func theClientGetsS3sResultDocumentWithTheDestinationsETagAndBothVersions() {
        let destination = HTTPResponseHead(version: .http1_1, status: .ok, headers: HTTPHeaders([
            ("ETag", "\"d41d8\""), ("x-amz-version-id", "v-dest"), ("x-amz-server-side-encryption", "AES256"), ("Server", "b"),
        ]))
        let (headers, body) = CopyBetweenBackends.response(
            operation: "CopyObject", source: source(stored), destination: destination,
            lastModified: "2026-12-01T10:00:00.000Z", allocator: ByteBufferAllocator())
        #expect(String(buffer: body) == """
            <?xml version="1.0" encoding="UTF-8"?>
            <CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2026-12-01T10:00:00.000Z</LastModified>\
            <ETag>&quot;d41d8&quot;</ETag></CopyObjectResult>
            """)
        #expect(headers.map { "\($0.name): \($0.value)" } == [
            "content-type: application/xml", "x-amz-copy-source-version-id: v-source",
            "x-amz-version-id: v-dest", "x-amz-server-side-encryption: AES256",
        ])
        let (_, part) = CopyBetweenBackends.response(
            operation: "UploadPartCopy", source: source(stored), destination: destination,
            lastModified: "2026-12-01T10:00:00.000Z", allocator: ByteBufferAllocator())
        #expect(String(buffer: part).contains("<CopyPartResult xmlns="))
    }

    @Test func aBackendCopiesByItselfOnlyForOneIdentity() {
        let one = BackendAuthorization.signature(BackendCredentials(accessKey: "AK1", secretKey: "s"))
        let oneRefreshed = BackendAuthorization.signature(BackendCredentials(accessKey: "AK1", secretKey: "s", sessionToken: "new"))
        let two = BackendAuthorization.signature(BackendCredentials(accessKey: "AK2", secretKey: "s"))
        let token = BackendAuthorization.bearer(IAMBearerToken(value: "T1", lifetimeSeconds: 3600))
        let otherToken = BackendAuthorization.bearer(IAMBearerToken(value: "T2", lifetimeSeconds: 3600))
        #expect(one.isSameIdentity(as: oneRefreshed))
        #expect(!one.isSameIdentity(as: two))
        #expect(token.isSameIdentity(as: token))
        #expect(!token.isSameIdentity(as: otherToken))
        #expect(!one.isSameIdentity(as: token))
    }
}
