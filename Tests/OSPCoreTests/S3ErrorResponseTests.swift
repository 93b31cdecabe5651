import NIOCore
import S3Signing
import Testing

@testable import OSPCore

@Suite("osp's own answers")
struct S3ErrorResponseTests {
    @Test("an error is S3 XML with its status, code, escaped message, resource and request id")
    func errorXML() {
        let rendered = S3ErrorResponse.render(
            S3Error(.signatureDoesNotMatch, "a <b> & 'c'"),
            resource: "/bucket/k&y",
            requestID: "0123456789ABCDEF",
            allocator: ByteBufferAllocator(),
            keepAlive: true
        )
        #expect(rendered.head.status.code == 403)
        #expect(rendered.head.headers["x-amz-request-id"] == ["0123456789ABCDEF"])
        #expect(rendered.head.headers["content-type"] == ["application/xml"])
        let body = String(buffer: rendered.body!)
        #expect(rendered.head.headers["content-length"] == [String(body.utf8.count)])
        #expect(body.contains("<Code>SignatureDoesNotMatch</Code>"))
        #expect(body.contains("<Message>a &lt;b&gt; &amp; &apos;c&apos;</Message>"))
        #expect(body.contains("<Resource>/bucket/k&amp;y</Resource>"))
        #expect(body.contains("<RequestId>0123456789ABCDEF</RequestId>"))
    }

    @Test("a HEAD request gets the head of the error but no body", arguments: [S3ErrorCode.noSuchBucket, .accessDenied, .badGateway])
    func headHasNoBody(code: S3ErrorCode) {
        let rendered = S3ErrorResponse.render(
            S3Error(code, "m"), resource: "/", requestID: "R", allocator: ByteBufferAllocator(), keepAlive: false,
            isHeadRequest: true
        )
        #expect(rendered.body == nil)
        #expect(rendered.head.status.code == code.httpStatus)
        #expect(rendered.head.headers["connection"] == ["close"])
    }

    @Test("request ids are 16 upper-case hex digits and do not repeat")
    func requestIDs() {
        var generator = RequestIDGenerator()
        let ids = (0..<1000).map { _ in generator.next() }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.utf8.count == 16 && $0.allSatisfy { "0123456789ABCDEF".contains($0) } })
    }

    @Test("ListBuckets merges the default backend's buckets with the configured ones, without duplicates")
    func listBucketsMerge() throws {
        var listing = ListAllMyBucketsResult(
            ownerID: "alice",
            buckets: [(name: "proxy-bucket01", creationDate: AmzDate(secondsSinceEpoch: 0))]
        )
        let backendXML = """
            <?xml version="1.0"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Buckets>\
            <Bucket><Name>zeta</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>\
            <Bucket><Name>proxy-bucket01</Name><CreationDate>2026-01-02T00:00:00.000Z</CreationDate></Bucket>\
            <Bucket><Name>alpha</Name><CreationDate>2026-01-03T00:00:00.000Z</CreationDate></Bucket>\
            </Buckets></ListAllMyBucketsResult>
            """
        let backend = try #require(ListAllMyBucketsResult.parseBucketNames(ByteBuffer(string: backendXML)))
        #expect(backend.map(\.name) == ["zeta", "proxy-bucket01", "alpha"])
        listing.merge(backend, creationDate: AmzDate(secondsSinceEpoch: 0))
        #expect(listing.buckets.map(\.name) == ["alpha", "proxy-bucket01", "zeta"])
        #expect(listing.buckets[1].creationDate == "1970-01-01T00:00:00.000Z")
        let xml = String(buffer: listing.xml(allocator: ByteBufferAllocator()))
        #expect(xml.contains("<Bucket><Name>alpha</Name><CreationDate>2026-01-03T00:00:00.000Z</CreationDate></Bucket>"))
        #expect(ListAllMyBucketsResult.parseBucketNames(ByteBuffer(string: "<Error/>")) == nil)
    }
}
