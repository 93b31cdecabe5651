import NIOCore
import NIOHTTP1
import S3Signing

/// A browser form upload osp has proven and the policy allowed, as it goes to the backend and
/// comes back: the form is re-issued under the backend's credentials — a new POST policy that
/// pins every field to the value osp checked, signed with the backend key — in front of the
/// client's file part, which streams through unchanged. The client's success fields
/// (`success_action_status`, `success_action_redirect`) are osp's to carry out: they name the
/// client's bucket and osp's address, which the backend does not know.
package struct PostObjectUpload: Sendable {
    /// The form as the client sent it (up to the file's content).
    package var form: PostObjectForm
    /// The object key after `${filename}` was replaced.
    package var key: String
    /// The client's policy (its size range goes on to the backend).
    package var policy: PostPolicy
    /// The bucket as the client named it.
    package var clientBucket: String

    package init(form: PostObjectForm, key: String, policy: PostPolicy, clientBucket: String) {
        self.form = form
        self.key = key
        self.policy = policy
        self.clientBucket = clientBucket
    }

    /// The client's request headers the backend's form request carries (lower case).
    private static let forwardedHeaders = ["origin", "user-agent"]

    /// How long the backend's copy of the policy is valid: long enough for a slow upload to start.
    static let backendPolicyLifetimeSeconds: Int64 = 15 * 60

    /// Form fields osp does not pass on: the client's signature and policy, its success handling,
    /// the key (rewritten), and fields S3 ignores.
    package static let withheldFields: Set<String> = PostPolicySignature.fieldNames.union([
        "policy", "x-amz-security-token", "key", "bucket", "success_action_status", "success_action_redirect", "redirect",
    ])

    /// The key a form names: its `key` field with `${filename}` replaced by the file's name.
    package static func key(of form: PostObjectForm) throws(S3Error) -> String {
        guard let template = form.value(of: "key") else {
            throw S3Error(.invalidArgument, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
        }
        let key = template.replacing("${filename}", with: form.fileName)
        guard !key.isEmpty, key.utf8.count <= 1024 else {
            throw S3Error(.invalidArgument, "The key of a POST form must be 1 to 1024 bytes long.")
        }
        return key
    }

    /// The backend request's head and the form's new beginning (fields and the file part's head).
    /// - Parameter clientHead: the client's request (its content type and length are reused).
    package func backendRequest(
        clientHead: HTTPRequestHead,
        bucket: BucketRoute,
        backendBucket: String,
        credentials: BackendCredentials,
        keyCache: SigningKeyCache,
        now: AmzDate
    ) throws(S3Error) -> (head: HTTPRequestHead, preamble: ByteBuffer) {
        let dateStamp = now.dateStamp
        let credential = credentials.accessKey + "/" + dateStamp + "/" + bucket.region + "/s3/aws4_request"
        var fields: [(String, String)] = [("key", self.key)]
        for field in self.form.fields {
            let name = field.lowercasedName
            if Self.withheldFields.contains(name) || name.hasPrefix("x-ignore-") { continue }
            fields.append((field.name, field.value))
        }
        if let token = credentials.sessionToken { fields.append(("x-amz-security-token", token)) }
        fields.append(("x-amz-algorithm", "AWS4-HMAC-SHA256"))
        fields.append(("x-amz-credential", credential))
        fields.append(("x-amz-date", now.amzDate))

        // Every field pinned to what osp checked; the bucket to the backend's name.
        var conditions: [OPAJSON] = [.object(["bucket": .string(backendBucket)])]
        for (name, value) in fields {
            conditions.append(.array([.string("eq"), .string("$" + name), .string(value)]))
        }
        if let range = self.policy.contentLengthRange {
            conditions.append(.array([.string("content-length-range"), .int(range.min), .int(range.max)]))
        }
        let expiration = AmzDate(secondsSinceEpoch: min(self.policy.expiration.secondsSinceEpoch, now.secondsSinceEpoch + Self.backendPolicyLifetimeSeconds))
        let document = OPAJSON.object(["expiration": .string(PostPolicy.iso8601(expiration)), "conditions": .array(conditions)])
        let policy = Base64.encode(document.encoded())
        let signature = PostPolicySignature.sigV4Signature(
            policy: policy, secretKey: credentials.secretKey, dateStamp: dateStamp, region: bucket.region, service: "s3", keyCache: keyCache)
        fields.append(("policy", policy))
        fields.append(("x-amz-signature", signature))

        // What osp writes must not hold the client's boundary: `${filename}` or a value could
        // otherwise make a delimiter a lenient parser (or any, after substitution) would split at.
        for (_, value) in fields where PostObjectFormReader.find(self.form.delimiter, in: Array(value.utf8)) != nil {
            throw S3Error(.invalidArgument, "A field of the POST form, or its key with ${filename} replaced, contains the form's boundary.")
        }
        var preamble = ByteBuffer()
        for (name, value) in fields {
            preamble.writeBytes(self.form.delimiter)
            preamble.writeString("\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n")
            preamble.writeString(value)
            preamble.writeString("\r\n")
        }
        preamble.writeBytes(self.form.filePartHead)

        let endpoint = BackendEndpoint(bucket)
        let (hostname, path) = UpstreamRequestBuilder.address(bucket: bucket, backendBucket: backendBucket, rawKeyPath: "")
        var headers = HTTPHeaders()
        headers.add(name: "host", value: endpoint.hostHeader(for: hostname))
        headers.add(name: "connection", value: "keep-alive")
        headers.add(name: "content-type", value: clientHead.headers.first(name: "content-type") ?? "")
        // Of the client's other headers only what says who is asking: `Origin`, so the bucket's CORS
        // rules answer a page's upload (its script reads the answer only with them). Never `x-amz-*`
        // or the like: a backend that honoured them on a form would let the browser set what the
        // form's signer did not allow.
        for name in Self.forwardedHeaders {
            for value in clientHead.headers[name] { headers.add(name: name, value: value) }
        }
        if let text = clientHead.headers.first(name: "content-length") {
            guard let length = Int(text), length >= self.form.preambleLength else {
                throw S3Error(.incompleteBody, "The request body is shorter than its form.")
            }
            headers.add(name: "content-length", value: String(length - self.form.preambleLength + preamble.readableBytes))
        } else {
            headers.add(name: "transfer-encoding", value: "chunked")
        }
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
        return (head, preamble)
    }

    /// Form fields that set the object's own headers, and the header each becomes on a PUT; the
    /// form's other `x-amz-*` fields (`x-amz-meta-*`, storage class, encryption, checksums, …) keep
    /// their names.
    static let headerFields: [String: String] = [
        "content-type": "Content-Type", "cache-control": "Cache-Control", "content-disposition": "Content-Disposition",
        "content-encoding": "Content-Encoding", "content-language": "Content-Language", "expires": "Expires",
        "acl": "x-amz-acl",
    ]

    /// Whether a form's `x-amz-*` field (lower case) is one of the object's own settings, which
    /// become the PUT's headers: metadata, storage class, encryption, checksums, an ACL or grants,
    /// tags, a lock, a website redirect — what POST Object and PutObject take, each authorized by
    /// `WriteSettings` where it needs a permission of its own. Any other is refused rather than
    /// passed on: as a header it could change what the PUT does — `x-amz-copy-source` would make it
    /// a copy of an object nothing authorized.
    static func isObjectSetting(_ name: String) -> Bool {
        guard !S3RequestRouter.isBackendExtension(Substring(name)) else { return false }
        return Self.objectSettingFields.contains(name) || Self.objectSettingPrefixes.contains { name.hasPrefix($0) }
    }

    private static let objectSettingFields: Set<String> = [
        "x-amz-acl", "x-amz-storage-class", "x-amz-tagging", "x-amz-website-redirect-location",
    ]
    private static let objectSettingPrefixes = [
        "x-amz-meta-", "x-amz-server-side-encryption", "x-amz-checksum-", "x-amz-object-lock-", "x-amz-grant-",
    ]

    /// The form as a PutObject of its file, for a backend reached with an IBM IAM bearer token,
    /// which has no key to sign a form policy with. The fields that are object settings become the
    /// PUT's headers (the ones osp checked against the policy and showed the policy engine); the
    /// file's length is the form's `Content-Length` less the fields and file head before it and
    /// the close after it (`CRLF--boundary--CRLF`, as browsers, curl and the SDKs end a form) —
    /// `PostObjectFileStream` holds the stream to exactly that.
    ///
    /// Refused: a form without `Content-Length` (411: the PUT needs the length before the file),
    /// `tagging` (501: a form carries tags as XML, a PUT as a query string), an `x-amz-*` field that
    /// is no object setting (`isObjectSetting`) and a field value that could not be a header value (400).
    package func putRequest(
        clientHead: HTTPRequestHead,
        bucket: BucketRoute,
        backendBucket: String,
        token: String
    ) throws(S3Error) -> (head: HTTPRequestHead, fileLength: Int64) {
        guard let text = clientHead.headers.first(name: "content-length"), let bodyLength = Int64(text) else {
            throw S3Error(.missingContentLength, "A form upload to a bucket reached with an IBM IAM token needs a Content-Length.")
        }
        let close = Int64(2 + self.form.delimiter.count + 2 + 2)
        let fileLength = bodyLength - Int64(self.form.preambleLength) - close
        guard fileLength >= 0 else {
            throw S3Error(.malformedPOSTRequest, "The body of your POST request is shorter than its form.")
        }
        let endpoint = BackendEndpoint(bucket)
        let rawKeyPath = "/" + SigV4Canonical.uriEncode(self.key, encodeSlash: false)
        let (hostname, path) = UpstreamRequestBuilder.address(bucket: bucket, backendBucket: backendBucket, rawKeyPath: rawKeyPath)
        var headers = HTTPHeaders()
        headers.add(name: "host", value: endpoint.hostHeader(for: hostname))
        headers.add(name: "connection", value: "keep-alive")
        for name in Self.forwardedHeaders {
            for value in clientHead.headers[name] { headers.add(name: name, value: value) }
        }
        for field in self.form.fields {
            let name = field.lowercasedName
            if name == "tagging" {
                throw S3Error(.notImplemented, "Tags on a form upload to a bucket reached with an IBM IAM token are not supported.")
            }
            let header: String
            if let mapped = Self.headerFields[name] {
                header = mapped
            } else if name.hasPrefix("x-amz-"), !Self.withheldFields.contains(name) {
                guard Self.isObjectSetting(name) else {
                    throw S3Error(.invalidArgument, "The POST form field \(field.name) is not an object setting this gateway passes on as a header.")
                }
                header = field.name
            } else {
                continue
            }
            guard field.value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                throw S3Error(.invalidArgument, "The POST form field \(field.name) cannot be an object header.")
            }
            headers.add(name: header, value: field.value)
        }
        headers.add(name: "content-length", value: String(fileLength))
        headers.add(name: "authorization", value: "Bearer " + token)
        return (HTTPRequestHead(version: .http1_1, method: .PUT, uri: path, headers: headers), fileLength)
    }

    /// What the client gets for the backend's success: S3's answer to the form's
    /// `success_action_redirect` (303 to it, with bucket, key and ETag) or `success_action_status`
    /// (200, 201 with a `PostResponse` document, or the default 204), naming the client's bucket.
    /// - Parameter location: the object's URL at osp, for the 201 document.
    func clientResponse(backendHead: HTTPResponseHead, location: String) -> (head: HTTPResponseHead, body: ByteBuffer?) {
        var headers = HTTPHeaders()
        for (name, value) in backendHead.headers {
            let lower = name.lowercased()
            if ["content-length", "content-type", "location", "connection", "keep-alive", "transfer-encoding"].contains(lower) { continue }
            headers.add(name: name, value: value)
        }
        let etag = backendHead.headers.first(name: "etag") ?? ""
        if let redirect = self.form.value(of: "success_action_redirect") ?? self.form.value(of: "redirect"),
            redirect.hasPrefix("http://") || redirect.hasPrefix("https://")
        {
            let encode = { (text: String) in SigV4Canonical.uriEncode(text, encodeSlash: true) }
            let query = "bucket=" + encode(self.clientBucket) + "&key=" + encode(self.key) + "&etag=" + encode(etag)
            headers.add(name: "location", value: redirect + (redirect.contains("?") ? "&" : "?") + query)
            headers.add(name: "content-length", value: "0")
            return (HTTPResponseHead(version: .http1_1, status: .seeOther, headers: headers), nil)
        }
        switch self.form.value(of: "success_action_status") {
        case "200":
            headers.add(name: "content-length", value: "0")
            return (HTTPResponseHead(version: .http1_1, status: .ok, headers: headers), nil)
        case "201":
            var body = ByteBuffer()
            body.writeStaticString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>")
            body.writeXMLEscaped(location)
            body.writeStaticString("</Location><Bucket>")
            body.writeXMLEscaped(self.clientBucket)
            body.writeStaticString("</Bucket><Key>")
            body.writeXMLEscaped(self.key)
            body.writeStaticString("</Key><ETag>")
            body.writeXMLEscaped(etag)
            body.writeStaticString("</ETag></PostResponse>")
            headers.add(name: "content-type", value: "application/xml")
            headers.add(name: "content-length", value: String(body.readableBytes))
            return (HTTPResponseHead(version: .http1_1, status: .created, headers: headers), body)
        default:
            return (HTTPResponseHead(version: .http1_1, status: .noContent, headers: headers), nil)
        }
    }
}
