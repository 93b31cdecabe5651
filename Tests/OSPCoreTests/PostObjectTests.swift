import NIOCore
import NIOHTTP1
import S3Signing
import Testing

@testable import OSPCore

/// A multipart/form-data body as a browser writes it.
private func formBody(_ fields: [(String, String)], boundary: String = "----osp-test", file: (name: String, content: String)? = ("a.txt", "hello file")) -> [UInt8] {
    var text = ""
    for (name, value) in fields {
        text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
    }
    if let file {
        text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(file.name)\"\r\nContent-Type: text/plain\r\n\r\n"
        text += file.content + "\r\n"
    }
    text += "--\(boundary)--\r\n"
    return Array(text.utf8)
}

private let contentType = "multipart/form-data; boundary=----osp-test"

/// Expects `body` to throw the S3 error `code`; returns it.
@discardableResult
private func expectS3Error<T>(_ code: S3ErrorCode, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T) -> S3Error? {
    let error = #expect(throws: S3Error.self, sourceLocation: sourceLocation) { _ = try body() }
    #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
    return error
}

/// Feeds `body` to a reader in pieces of `chunk` bytes; the form and what followed it.
private func read(_ body: [UInt8], chunk: Int, contentType: String = contentType) throws(S3Error) -> (PostObjectForm, [UInt8])? {
    var reader = try PostObjectFormReader(contentType: contentType)
    var index = 0
    var remainder: [UInt8] = []
    var form: PostObjectForm?
    while index < body.count {
        let piece = ByteBuffer(bytes: body[index..<min(index + chunk, body.count)])
        index += chunk
        if form != nil {
            remainder += piece.readableBytesView
            continue
        }
        if case .complete(let complete, let rest) = try reader.append(piece) {
            form = complete
            remainder = rest
        }
    }
    return form.map { ($0, remainder) }
}

@Suite("POST Object: reading the form")
struct PostObjectFormReaderTests {
    @Test("fields up to the file are read however the body is split; the file's content is left to stream", arguments: [1, 2, 7, 64, 100_000])
    func splits(chunk: Int) throws {
        let body = formBody([("key", "uploads/${filename}"), ("Content-Type", "text/plain"), ("x-amz-meta-note", "two\r\nlines")])
        let (form, remainder) = try #require(try read(body, chunk: chunk))
        #expect(form.fields == [
            .init(name: "key", value: "uploads/${filename}"),
            .init(name: "Content-Type", value: "text/plain"),
            .init(name: "x-amz-meta-note", value: "two\r\nlines"),
        ])
        #expect(form.value(of: "content-type") == "text/plain")
        #expect(form.fileName == "a.txt")
        #expect(Array(body[..<form.preambleLength]).count == form.preambleLength)
        #expect(String(decoding: remainder, as: UTF8.self) == "hello file\r\n------osp-test--\r\n")
        #expect(String(decoding: form.filePartHead, as: UTF8.self).hasPrefix("------osp-test\r\nContent-Disposition: form-data; name=\"file\""))
        #expect(form.filePartHead == Array(body[(form.preambleLength - form.filePartHead.count)..<form.preambleLength]))
    }

    @Test("a browser's path in front of the file name is dropped; a quoted boundary is understood")
    func fileNameAndBoundary() throws {
        let body = formBody([("key", "k")], boundary: "x y", file: ("C:\\photos\\cat.jpg", "meow"))
        let (form, _) = try #require(try read(body, chunk: 5, contentType: "multipart/form-data; boundary=\"x y\""))
        #expect(form.fileName == "cat.jpg")
    }

    @Test("a form that ends without a file part is InvalidArgument")
    func noFile() throws {
        let body = formBody([("key", "k")], file: nil)
        expectS3Error(.invalidArgument) { try read(body, chunk: 3) }
    }

    @Test("a field named twice is refused, in any case spelling")
    func duplicate() {
        expectS3Error(.invalidArgument) { try read(formBody([("key", "a"), ("KEY", "b")]), chunk: 10) }
    }

    @Test(
        "a field name that is not an HTTP token is refused: a lenient parser behind osp could read `x-amz-acl ` as the ACL osp did not ask permission for",
        arguments: ["x-amz-acl ", " x-amz-acl", "x-amz-acl\t", "x-amz-meta-a b", "x-amz-meta-a:b", "x-amz-meta-\u{0}", "x-amz-meta-ü"])
    func fieldNameNotAToken(_ name: String) {
        let error = expectS3Error(.invalidArgument) { try read(formBody([("key", "k"), (name, "public-read")]), chunk: 5) }
        #expect(error?.message.contains("HTTP token") == true)
    }

    @Test("field names made of token characters are read as sent", arguments: ["x-ignore-$pad", "X-Amz-Meta-Owner", "x_custom.field~1"])
    func tokenFieldNames(_ name: String) throws {
        let (form, _) = try #require(try read(formBody([(name, "v")]), chunk: 5))
        #expect(form.value(of: name.lowercased()) == "v")
    }

    @Test("fields past 64 KiB before the file are MaxPostPreDataLengthExceeded, however they arrive")
    func tooLarge() {
        let pad = String(repeating: "p", count: PostObjectFormReader.maximumPreambleBytes)
        for chunk in [1000, 1 << 20] {
            expectS3Error(.maxPostPreDataLengthExceeded) { try read(formBody([("x-ignore-pad", pad)]), chunk: chunk) }
        }
        // Just under the limit is fine.
        let fits = String(repeating: "p", count: PostObjectFormReader.maximumPreambleBytes - 400)
        #expect((try? read(formBody([("x-ignore-pad", fits)]), chunk: 4096)) != nil)
    }

    @Test(
        "what is not multipart/form-data as S3 reads it is refused",
        arguments: [
            "garbage before the first delimiter\r\n",
            "------osp-test\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n------osp-test--\r\n",
            "------osp-test\r\nContent-Disposition: attachment; name=\"key\"\r\n\r\nv\r\n------osp-test--\r\n",
            "------osp-test\r\nContent-Disposition: form-data\r\n\r\nno name\r\n------osp-test--\r\n",
            "------osp-test  \r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nv\r\n------osp-test--\r\n",
        ])
    func malformed(_ text: String) {
        #expect(throws: S3Error.self) { try read(Array(text.utf8), chunk: 4) }
    }

    @Test(
        "a part whose lines break at a bare LF or CR, or that holds the boundary, is refused: other parsers would read other parts",
        arguments: [
            "------osp-test\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nv\n------osp-test\r\nContent-Disposition: form-data; name=\"acl\"\r\n\r\npublic-read\r\n------osp-test--\r\n",
            "------osp-test\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nv------osp-test\r\n------osp-test--\r\n",
            "------osp-test\r\nContent-Disposition: form-data; name=\"file\"; x\n------osp-test\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n",
            "------osp-test\r\nContent-Disposition: form-data; name=\"key\"\rX: y\r\n\r\nv\r\n------osp-test--\r\n",
        ])
    func smuggledParts(_ text: String) {
        expectS3Error(.malformedPOSTRequest) { try read(Array(text.utf8), chunk: 7) }
    }

    @Test(
        "the boundary comes from the content type, or the form is refused",
        arguments: ["multipart/form-data", "multipart/form-data; boundary=", "multipart/mixed; boundary=x", "text/plain"])
    func boundary(_ contentType: String) {
        expectS3Error(.invalidArgument) { try PostObjectFormReader(contentType: contentType) }
    }
}

@Suite("POST Object: the policy")
struct PostPolicyTests {
    static func policy(_ json: String) throws(S3Error) -> PostPolicy {
        try PostPolicy(base64: Base64.encode(Array(json.utf8)))
    }

    static func form(_ fields: [(String, String)]) -> PostObjectForm {
        PostObjectForm(
            fields: fields.map { .init(name: $0.0, value: $0.1) }, fileName: "a.txt", filePartHead: [], delimiter: [],
            preambleLength: 0)
    }

    static let now = AmzDate(iso8601Basic: "20261201T120000Z")!

    @Test("AWS's documented example policy decodes to its expiration and conditions")
    func awsExample() throws {
        let policy = try PostPolicy(base64: PostPolicySignatureTestsShared.awsPolicy)
        #expect(policy.expiration == AmzDate(iso8601Basic: "20151230T120000Z"))
        #expect(policy.conditions.first == .equals(field: "bucket", value: "sigv4examplebucket"))
        #expect(policy.conditions.contains(.startsWith(field: "key", prefix: "user/user1/")))
        #expect(policy.conditions.contains(.startsWith(field: "content-type", prefix: "image/")))
        #expect(policy.conditions.count == 11)
    }

    @Test("a form that meets every condition passes; each unmet one is AccessDenied")
    func conditions() throws {
        let policy = try Self.policy("""
            {"expiration": "2026-12-01T12:05:00Z", "conditions": [{"bucket": "photos"}, ["starts-with", "$key", "user/"],
             ["eq", "$Content-Type", "image/png"], ["starts-with", "$x-amz-meta-tag", ""], ["content-length-range", 1, 100],
             {"x-amz-algorithm": "AWS4-HMAC-SHA256"}]}
            """)
        #expect(policy.contentLengthRange! == (1, 100))
        let twoRanges = try Self.policy("""
            {"expiration": "2026-12-01T12:05:00Z", "conditions": [["content-length-range", 1, 100], ["content-length-range", 50, 500]]}
            """)
        #expect(twoRanges.contentLengthRange! == (50, 100), "every range holds: their intersection")
        let good: [(String, String)] = [
            ("key", "user/a.png"), ("content-type", "image/png"), ("x-amz-meta-tag", "anything"), ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("policy", "…"), ("x-amz-signature", "…"), ("x-ignore-me", "ignored"),
        ]
        try policy.check(Self.form(good), bucket: "photos", now: Self.now)

        expectS3Error(.accessDenied) { try policy.check(Self.form(good), bucket: "other", now: Self.now) }
        var outside = good
        outside[0].1 = "admin/a.png"
        expectS3Error(.accessDenied) { try policy.check(Self.form(outside), bucket: "photos", now: Self.now) }
        var wrongType = good
        wrongType[1].1 = "image/png2"
        expectS3Error(.accessDenied) { try policy.check(Self.form(wrongType), bucket: "photos", now: Self.now) }
        let missing = good.filter { $0.0 != "x-amz-meta-tag" }
        expectS3Error(.accessDenied) { try policy.check(Self.form(missing), bucket: "photos", now: Self.now) }
        let extra = good + [("x-amz-meta-extra", "sneaked in")]
        let error = expectS3Error(.accessDenied) { try policy.check(Self.form(extra), bucket: "photos", now: Self.now) }
        #expect(error?.message == "Invalid according to Policy: Extra input fields: x-amz-meta-extra")
        let expired = expectS3Error(.accessDenied) {
            try policy.check(Self.form(good), bucket: "photos", now: AmzDate(iso8601Basic: "20261201T120500Z")!)
        }
        #expect(error != expired)
    }

    @Test(
        "a policy S3 would not accept is InvalidPolicyDocument",
        arguments: [
            "not json",
            "[]",
            #"{"conditions": []}"#,
            #"{"expiration": "tomorrow", "conditions": []}"#,
            #"{"expiration": "2026-12-01T12:00:00+01:00", "conditions": []}"#,
            #"{"expiration": "2026-12-01T12:00:00Z"}"#,
            #"{"expiration": "2026-12-01T12:00:00Z", "conditions": [["ends-with", "$key", "x"]]}"#,
            #"{"expiration": "2026-12-01T12:00:00Z", "conditions": [["eq", "key", "x"]]}"#,
            #"{"expiration": "2026-12-01T12:00:00Z", "conditions": [{"a": "1", "b": "2"}]}"#,
            #"{"expiration": "2026-12-01T12:00:00Z", "conditions": [{"a": 1}]}"#,
            #"{"expiration": "2026-12-01T12:00:00Z", "conditions": [["content-length-range", 10, 1]]}"#,
            #"{"expiration": "2026-12-01T12:00:00Z", "conditions": ["key"]}"#,
        ])
    func invalid(_ json: String) {
        expectS3Error(.invalidPolicyDocument) { try Self.policy(json) }
    }

    @Test("a policy field that is not base64 is InvalidPolicyDocument")
    func notBase64() {
        expectS3Error(.invalidPolicyDocument) { try PostPolicy(base64: "{\"expiration\": 1}") }
    }

    @Test("expirations with and without fractions of a second")
    func expirations() {
        #expect(PostPolicy.date("2026-12-01T12:00:00Z") == AmzDate(iso8601Basic: "20261201T120000Z"))
        #expect(PostPolicy.date("2026-12-01T12:00:00.123Z") == AmzDate(iso8601Basic: "20261201T120000Z"))
        #expect(PostPolicy.date("2026-12-01T12:00:00.Z") == nil)
        #expect(PostPolicy.date("2026-12-01 12:00:00Z") == nil)
        #expect(PostPolicy.iso8601(AmzDate(iso8601Basic: "20261201T120000Z")!) == "2026-12-01T12:00:00Z")
    }
}

/// The AWS example policy, shared with the signature tests of S3Signing.
enum PostPolicySignatureTestsShared {
    static let awsPolicy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
}

@Suite("POST Object: the form the backend gets, and the client's answer")
struct PostObjectUploadTests {
    static let now = AmzDate(iso8601Basic: "20261201T120000Z")!

    static func upload(_ fields: [(String, String)], policy: PostPolicy, fileName: String = "a.txt") throws -> (PostObjectUpload, [UInt8]) {
        let body = formBody(fields, file: (fileName, "hello file"))
        let (form, _) = try #require(try read(body, chunk: 1 << 20))
        let key = try PostObjectUpload.key(of: form)
        return (PostObjectUpload(form: form, key: key, policy: policy, clientBucket: "photos"), body)
    }

    static let bucket = BucketRoute(
        name: "photos", host: "backend.local", port: 9000, region: "eu-west-1", addressingStyle: .virtual, backendBucket: "real-photos")

    @Test("the backend's form: the key resolved, fields pinned by a new policy signed with the backend key, the client's own auth gone")
    func backendForm() throws {
        let clientPolicy = PostPolicy(expiration: AmzDate(iso8601Basic: "20261201T130000Z")!, conditions: [.contentLengthRange(min: 0, max: 1000)])
        let (upload, body) = try Self.upload(
            [("key", "u/${filename}"), ("Content-Type", "text/plain"), ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
             ("x-amz-credential", "CLIENT/20261201/us-east-1/s3/aws4_request"), ("x-amz-date", "20261201T115900Z"),
             ("policy", "Y2xpZW50"), ("x-amz-signature", "ab"), ("success_action_status", "201"), ("x-ignore-x", "1")],
            policy: clientPolicy)
        #expect(upload.key == "u/a.txt")
        var clientHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/photos")
        clientHead.headers.add(name: "Content-Type", value: contentType)
        clientHead.headers.add(name: "Content-Length", value: String(body.count))
        let keyCache = SigningKeyCache()
        let (head, preamble) = try upload.backendRequest(
            clientHead: clientHead, bucket: Self.bucket, backendBucket: "real-photos",
            credentials: BackendCredentials(accessKey: "BACKEND", secretKey: "backend-secret", sessionToken: "tok"),
            keyCache: keyCache, now: Self.now)
        #expect(head.uri == "/")
        #expect(head.headers["host"] == ["real-photos.backend.local:9000"])
        #expect(head.headers["authorization"].isEmpty)
        // Same body length arithmetic the backend will see: new preamble + the untouched rest.
        let rest = body.count - upload.form.preambleLength
        #expect(head.headers["content-length"] == [String(preamble.readableBytes + rest)])

        // Read the backend's form back as the backend would.
        var forwarded = preamble
        forwarded.writeBytes(body[upload.form.preambleLength...])
        let (backendForm, _) = try #require(try read(Array(forwarded.readableBytesView), chunk: 1 << 20))
        #expect(backendForm.value(of: "key") == "u/a.txt")
        #expect(backendForm.value(of: "content-type") == "text/plain")
        #expect(backendForm.value(of: "x-amz-credential") == "BACKEND/20261201/eu-west-1/s3/aws4_request")
        #expect(backendForm.value(of: "x-amz-security-token") == "tok")
        #expect(backendForm.value(of: "success_action_status") == nil)
        #expect(backendForm.value(of: "x-ignore-x") == nil)
        #expect(backendForm.filePartHead == upload.form.filePartHead)
        let signature = try #require(try PostPolicySignature.parse(field: backendForm.value(of:)))
        let policyText = try #require(backendForm.value(of: "policy"))
        #expect(signature.verifies(policy: policyText, secretKey: "backend-secret", keyCache: keyCache))
        let backendPolicy = try PostPolicy(base64: policyText)
        #expect(backendPolicy.expiration == AmzDate(iso8601Basic: "20261201T121500Z"))
        #expect(backendPolicy.contentLengthRange! == (0, 1000))
        try backendPolicy.check(backendForm, bucket: "real-photos", now: Self.now)
        expectS3Error(.accessDenied) { try backendPolicy.check(backendForm, bucket: "photos", now: Self.now) }
    }

    @Test("of the client's headers only Origin and User-Agent reach the backend: none the form's signer did not allow")
    func clientHeaders() throws {
        let (upload, body) = try Self.upload([("key", "k")], policy: PostPolicy(expiration: Self.now, conditions: []))
        var clientHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/photos")
        clientHead.headers.add(name: "Content-Type", value: contentType)
        clientHead.headers.add(name: "Content-Length", value: String(body.count))
        clientHead.headers.add(name: "Origin", value: "https://page.example")
        clientHead.headers.add(name: "User-Agent", value: "browser")
        clientHead.headers.add(name: "x-amz-acl", value: "public-read")
        clientHead.headers.add(name: "x-amz-meta-sneaky", value: "1")
        clientHead.headers.add(name: "Authorization", value: "AWS4-HMAC-SHA256 whatever")
        let (head, _) = try upload.backendRequest(
            clientHead: clientHead, bucket: Self.bucket, backendBucket: "real-photos",
            credentials: BackendCredentials(accessKey: "B", secretKey: "s"), keyCache: SigningKeyCache(), now: Self.now)
        #expect(head.headers["origin"] == ["https://page.example"])
        #expect(head.headers["user-agent"] == ["browser"])
        #expect(head.headers.map { $0.name.lowercased() }.sorted() == ["connection", "content-length", "content-type", "host", "origin", "user-agent"])
    }

    @Test("a client that streams its form chunked gets it forwarded chunked")
    func chunked() throws {
        let (upload, _) = try Self.upload([("key", "k")], policy: PostPolicy(expiration: Self.now, conditions: []))
        var clientHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/photos")
        clientHead.headers.add(name: "Content-Type", value: contentType)
        clientHead.headers.add(name: "Transfer-Encoding", value: "chunked")
        let (head, _) = try upload.backendRequest(
            clientHead: clientHead, bucket: Self.bucket, backendBucket: "real-photos",
            credentials: BackendCredentials(accessKey: "B", secretKey: "s"), keyCache: SigningKeyCache(), now: Self.now)
        #expect(head.headers["transfer-encoding"] == ["chunked"])
        #expect(head.headers["content-length"].isEmpty)
    }

    @Test("a key whose ${filename} completes the form's boundary is refused before anything is written for the backend")
    func filenameMakesTheBoundary() throws {
        // "------osp-" + file name "test" = the delimiter: written out, the backend would see a new part.
        let (upload, body) = try Self.upload(
            [("key", "k\r\n------osp-${filename}\r\nContent-Disposition: form-data; name=\"acl\"\r\n\r\npublic-read")],
            policy: PostPolicy(expiration: Self.now, conditions: []), fileName: "test")
        var clientHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/photos")
        clientHead.headers.add(name: "Content-Type", value: contentType)
        clientHead.headers.add(name: "Content-Length", value: String(body.count))
        expectS3Error(.invalidArgument) {
            try upload.backendRequest(
                clientHead: clientHead, bucket: Self.bucket, backendBucket: "real-photos",
                credentials: BackendCredentials(accessKey: "B", secretKey: "s"), keyCache: SigningKeyCache(), now: Self.now)
        }
    }

    @Test("a form without a key field, or whose key resolves to nothing, is InvalidArgument")
    func key() throws {
        let (form, _) = try #require(try read(formBody([("acl", "private")]), chunk: 100))
        expectS3Error(.invalidArgument) { try PostObjectUpload.key(of: form) }
        let (unnamed, _) = try #require(try read(formBody([("key", "${filename}")], file: ("", "x")), chunk: 100))
        expectS3Error(.invalidArgument) { try PostObjectUpload.key(of: unnamed) }
    }

    @Test("the client's answer: 204 by default, 200 or 201 (a PostResponse naming the client's bucket) as asked, or a 303 to its redirect")
    func answers() throws {
        var backend = HTTPResponseHead(version: .http1_1, status: .noContent)
        backend.headers.add(name: "ETag", value: "\"abc\"")
        backend.headers.add(name: "Location", value: "http://backend.local/real-photos/k")
        backend.headers.add(name: "x-amz-request-id", value: "R1")
        let none = PostPolicy(expiration: Self.now, conditions: [])

        let (plain, _) = try Self.upload([("key", "a b/c")], policy: none)
        let answer = plain.clientResponse(backendHead: backend, location: "http://osp/photos/a%20b/c")
        #expect(answer.head.status == .noContent)
        #expect(answer.head.headers["etag"] == ["\"abc\""])
        #expect(answer.head.headers["location"].isEmpty)
        #expect(answer.head.headers["x-amz-request-id"] == ["R1"])

        let (ok, _) = try Self.upload([("key", "k"), ("success_action_status", "200")], policy: none)
        #expect(ok.clientResponse(backendHead: backend, location: "").head.status == .ok)

        let (created, _) = try Self.upload([("key", "a&b"), ("success_action_status", "201")], policy: none)
        let document = created.clientResponse(backendHead: backend, location: "http://osp/photos/a%26b")
        #expect(document.head.status == .created)
        let xml = String(buffer: try #require(document.body))
        #expect(xml.contains("<Location>http://osp/photos/a%26b</Location><Bucket>photos</Bucket><Key>a&amp;b</Key><ETag>&quot;abc&quot;</ETag>"))
        #expect(document.head.headers["content-length"] == [String(xml.utf8.count)])

        let (redirect, _) = try Self.upload([("key", "a b"), ("success_action_redirect", "https://app.example/done?x=1")], policy: none)
        let see = redirect.clientResponse(backendHead: backend, location: "")
        #expect(see.head.status == .seeOther)
        #expect(see.head.headers["location"] == ["https://app.example/done?x=1&bucket=photos&key=a%20b&etag=%22abc%22"])
    }
}

@Suite("POST Object: what follows the file")
struct PostObjectFormTailTests {
    static let delimiter = Array("------osp-test".utf8)

    /// Scans `bytes` split at `split`; nil when it ends closed, else the refusal (or "open").
    static func scan(_ text: String, split: Int, unscanned: Int = 0) -> String? {
        var tail = PostObjectFormTail(delimiter: delimiter, unscanned: unscanned)
        let bytes = Array(text.utf8)
        let cut = min(split, bytes.count)
        do {
            try tail.scan(ByteBuffer(bytes: bytes[..<cut]))
            try tail.scan(ByteBuffer(bytes: bytes[cut...]))
            try tail.finish()
            return nil
        } catch {
            return error.code.rawValue
        }
    }

    @Test("a file followed by the form's close passes, wherever the reads split it; content that only looks like a delimiter is content")
    func closes() {
        // After the close comes the epilogue, which nothing reads: a delimiter in it changes nothing.
        let epilogue = "line\r\n------osp-test--\r\nepilogue\r\n------osp-test\r\nx"
        for split in 0...epilogue.utf8.count {
            #expect(Self.scan(epilogue, split: split) == nil, "split at \(split)")
        }
        let clean = "data \r\n-- \r\n------osp-tes\r\n------osp-test--\r\n"
        for split in 0...clean.utf8.count {
            #expect(Self.scan(clean, split: split) == nil, "split at \(split)")
        }
        #expect(Self.scan("\r\n------osp-test--", split: 3) == nil, "an empty file")
    }

    @Test("another part after the file is refused wherever the reads split it, before its value can follow")
    func anotherPart() {
        let sneaky = "data\r\n------osp-test\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nelsewhere\r\n------osp-test--\r\n"
        for split in 0...sneaky.utf8.count {
            #expect(Self.scan(sneaky, split: split) == "InvalidArgument", "split at \(split)")
        }
    }

    @Test(
        "the boundary anywhere but the strict close is refused: a lenient parser would split there",
        arguments: [
            "data\n------osp-test\r\nContent-Disposition: form-data; name=\"acl\"\r\n\r\npublic-read\r\n------osp-test--\r\n",
            "data------osp-test--\r\n",
            "data\r\n------osp-test\nContent-Disposition: form-data; name=\"key\"\n\nk\r\n------osp-test--\r\n",
        ])
    func misplacedBoundary(_ text: String) {
        for split in 0...text.utf8.count {
            #expect(Self.scan(text, split: split) == "InvalidArgument", "split at \(split)")
        }
    }

    @Test("a body that ends before the form's close is MalformedPOSTRequest")
    func unclosed() {
        #expect(Self.scan("data without an end", split: 4) == "MalformedPOSTRequest")
        #expect(Self.scan("data\r\n------osp-test", split: 8) == "MalformedPOSTRequest")
    }

    /// Scans `text` in reads of `chunk` bytes against `range`: the file's counted size, and the
    /// refusal with the index of the read that raised it (`finish` counts as one past the last).
    static func sized(_ text: String, chunk: Int, range: (min: Int64, max: Int64)?, unscanned: Int = 0)
        -> (size: Int64, refusal: (code: String, read: Int)?)
    {
        var tail = PostObjectFormTail(delimiter: delimiter, unscanned: unscanned, sizeRange: range)
        let bytes = Array(text.utf8)
        let reads = stride(from: 0, to: bytes.count, by: chunk).map { bytes[$0..<min($0 + chunk, bytes.count)] }
        for (index, read) in reads.enumerated() {
            do { try tail.scan(ByteBuffer(bytes: read)) } catch { return (tail.fileBytes, (error.code.rawValue, index)) }
        }
        do { try tail.finish() } catch { return (tail.fileBytes, (error.code.rawValue, reads.count)) }
        return (tail.fileBytes, nil)
    }

    @Test("the file's size is counted exactly, however the reads split it and whatever it holds", arguments: [1, 2, 3, 5, 17, 1000])
    func size(chunk: Int) {
        let fields = "------osp-test\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n"
        for content in ["", "x", "\r", "\r\n", "ab\r\n--\r\n------osp-tes\r\n", String(repeating: "\r\n-", count: 40)] {
            let text = fields + content + "\r\n------osp-test--\r\nepilogue"
            let result = Self.sized(text, chunk: chunk, range: nil, unscanned: fields.utf8.count)
            #expect(result.refusal == nil)
            #expect(result.size == Int64(content.utf8.count), "\(content.debugDescription) in reads of \(chunk)")
        }
        // The delimiter right after the part's head: the head's CRLF is the delimiter's, the file empty.
        let bare = Self.sized("------osp-test--\r\n", chunk: chunk, range: (0, 0))
        #expect(bare.size == 0 && bare.refusal == nil)
    }

    @Test("a file the policy's content-length-range allows passes at both ends of the range", arguments: [1, 4, 1000])
    func sizeWithinRange(chunk: Int) {
        for content in ["12345", "1234567890"] {
            let result = Self.sized(content + "\r\n------osp-test--\r\n", chunk: chunk, range: (5, 10))
            #expect(result.refusal == nil, "\(content.utf8.count) bytes in reads of \(chunk)")
        }
    }

    @Test("a file over the range is EntityTooLarge, under it EntityTooSmall: refused at the latest with the read that closes the form, never after it")
    func sizeOutsideRange() {
        for chunk in [1, 3, 8, 1000] {
            for (content, code) in [("12345678901", "EntityTooLarge"), ("1234", "EntityTooSmall"), ("", "EntityTooSmall")] {
                let text = content + "\r\n------osp-test--\r\n"
                let result = Self.sized(text, chunk: chunk, range: (5, 10))
                let closing = (content.utf8.count + 2 + Self.delimiter.count + 1) / chunk  // the read holding the close's last "-"
                #expect(result.refusal?.code == code, "\(content.utf8.count) bytes in reads of \(chunk)")
                #expect((result.refusal?.read ?? .max) <= closing, "\(content.utf8.count) bytes in reads of \(chunk)")
            }
        }
        // A large file is refused while it streams, long before its end.
        let big = String(repeating: "x", count: 10_000) + "\r\n------osp-test--\r\n"
        let result = Self.sized(big, chunk: 100, range: (0, 1000))
        #expect(result.refusal?.code == "EntityTooLarge")
        #expect(result.refusal?.read == 10)
        // Ranges that do not overlap allow no file at all.
        #expect(Self.sized("abc\r\n------osp-test--", chunk: 1000, range: (5, 2)).refusal?.code == "EntityTooLarge")
    }

    @Test("osp's own fields in front are not scanned")
    func unscanned() {
        let fields = "------osp-test\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n"
        let text = fields + "file\r\n------osp-test--\r\n"
        for split in [0, 10, fields.utf8.count, fields.utf8.count + 3] {
            #expect(Self.scan(text, split: split, unscanned: fields.utf8.count) == nil, "split at \(split)")
        }
    }
}

@Suite("POST Object: a form as a PUT of its file (IBM IAM buckets)")
struct PostObjectPutTests {
    static let policy = PostPolicy(expiration: AmzDate(iso8601Basic: "20261201T130000Z")!, conditions: [])

    static func put(_ fields: [(String, String)], file: String = "hello file") throws -> (HTTPRequestHead, Int64, [UInt8], PostObjectForm) {
        let body = formBody(fields, file: ("a.txt", file))
        let (form, _) = try #require(try read(body, chunk: 1 << 20))
        let upload = PostObjectUpload(form: form, key: try PostObjectUpload.key(of: form), policy: Self.policy, clientBucket: "photos")
        var clientHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/photos")
        clientHead.headers.add(name: "Content-Type", value: contentType)
        clientHead.headers.add(name: "Content-Length", value: String(body.count))
        clientHead.headers.add(name: "Origin", value: "https://app.example")
        clientHead.headers.add(name: "x-amz-acl", value: "public-read")
        let (head, length) = try upload.putRequest(
            clientHead: clientHead, bucket: PostObjectUploadTests.bucket, backendBucket: "real-photos", token: "TOKEN")
        return (head, length, body, form)
    }

    @Test("object settings among the fields become headers; credentials, success handling and the client's own headers do not")
    func headers() throws {
        let (head, length, _, _) = try Self.put([
            ("key", "u/${filename}"), ("Content-Type", "text/plain"), ("acl", "private"), ("x-amz-meta-color", "blue"),
            ("x-amz-storage-class", "STANDARD_IA"), ("Cache-Control", "no-cache"), ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-credential", "CLIENT/20261201/us-east-1/s3/aws4_request"), ("x-amz-date", "20261201T115900Z"),
            ("x-amz-security-token", "client-token"), ("policy", "Y2xpZW50"), ("x-amz-signature", "ab"),
            ("success_action_status", "201"), ("x-ignore-x", "1"), ("submit", "Upload"),
        ])
        #expect(head.method == .PUT)
        #expect(head.uri == "/u/a.txt")
        #expect(length == Int64("hello file".utf8.count))
        #expect(head.headers.map { "\($0.name): \($0.value)" } == [
            "host: real-photos.backend.local:9000", "connection: keep-alive", "origin: https://app.example",
            "Content-Type: text/plain", "x-amz-acl: private", "x-amz-meta-color: blue", "x-amz-storage-class: STANDARD_IA",
            "Cache-Control: no-cache", "content-length: 10", "authorization: Bearer TOKEN",
        ])
    }

    @Test(
        "an x-amz-* field that is no object setting is refused, not made a header: x-amz-copy-source would make the PUT a copy",
        arguments: [
            "x-amz-copy-source", "X-Amz-Copy-Source-Range", "x-amz-rename-source", "x-amz-bypass-governance-retention",
            "x-amz-content-sha256", "x-amz-write-offset-bytes", "x-amz-expected-bucket-owner", "x-amz-meta-snowball-auto-extract",
        ])
    func requestHeadersRefused(_ name: String) {
        expectS3Error(.invalidArgument) { try Self.put([("key", "k"), (name, "/photos/secret")]) }
    }

    @Test("the object settings a form may carry become headers")
    func objectSettings() throws {
        let settings = [
            ("x-amz-server-side-encryption", "AES256"), ("x-amz-checksum-sha256", "abc="), ("x-amz-object-lock-mode", "GOVERNANCE"),
            ("x-amz-grant-read", "id=x"), ("x-amz-tagging", "a=b"), ("x-amz-website-redirect-location", "/other"),
        ]
        let (head, _, _, _) = try Self.put([("key", "k")] + settings)
        for (name, value) in settings {
            #expect(head.headers[name] == [value])
        }
    }

    @Test("the file's length is the body's less the form around it, for every file size")
    func length() throws {
        for size in [0, 1, 2, 100, 5000] {
            let file = String(repeating: "x", count: size)
            let (_, length, _, _) = try Self.put([("key", "k")], file: file)
            #expect(length == Int64(size))
        }
    }

    @Test("what a PUT cannot carry is refused: no length, tags, a value that is no header value")
    func refusals() throws {
        expectS3Error(.notImplemented) { try Self.put([("key", "k"), ("tagging", "<Tagging/>")]) }
        expectS3Error(.invalidArgument) { try Self.put([("key", "k"), ("Content-Type", "text/plain\r\nx-amz-acl: public-read")]) }
        expectS3Error(.invalidArgument) { try Self.put([("key", "k"), ("x-amz-meta-a", "a\u{0}b")]) }
        let body = formBody([("key", "k")])
        let (form, _) = try #require(try read(body, chunk: 1 << 20))
        let upload = PostObjectUpload(form: form, key: "k", policy: Self.policy, clientBucket: "photos")
        expectS3Error(.missingContentLength) {
            try upload.putRequest(
                clientHead: HTTPRequestHead(version: .http1_1, method: .POST, uri: "/photos"),
                bucket: PostObjectUploadTests.bucket, backendBucket: "real-photos", token: "T")
        }
    }

    @Test("the stream passes exactly the file, its last byte only once the form has closed right after it")
    func stream() throws {
        for size in [0, 1, 2, 7, 300] {
            let file = String((0..<size).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
            let (_, length, body, form) = try Self.put([("key", "k")], file: file)
            let rest = Array(body[form.preambleLength...])
            for chunk in [1, 2, 3, 64, 1 << 20] {
                var stream = PostObjectFileStream(length: length)
                var tail = PostObjectFormTail(delimiter: form.delimiter, unscanned: 0)
                var passed: [UInt8] = []
                var index = 0
                while index < rest.count {
                    let piece = ByteBuffer(bytes: rest[index..<min(index + chunk, rest.count)])
                    index += chunk
                    try tail.scan(piece)
                    passed += stream.take(piece).readableBytesView
                    #expect(passed.count < max(1, size), "the PUT must not complete before the close (size \(size), chunk \(chunk))")
                }
                try tail.finish()
                if let last = try stream.finish(fileBytes: tail.fileBytes) { passed += last.readableBytesView }
                #expect(passed == Array(file.utf8), "size \(size), chunk \(chunk)")
            }
        }
    }

    @Test("a file that is not the length the PUT declared fails the stream")
    func wrongLength() {
        let stream = PostObjectFileStream(length: 10)
        expectS3Error(.malformedPOSTRequest) { try stream.finish(fileBytes: 12) }
        expectS3Error(.malformedPOSTRequest) { try stream.finish(fileBytes: 8) }
    }
}
