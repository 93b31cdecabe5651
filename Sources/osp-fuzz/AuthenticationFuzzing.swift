import NIOHTTP1
import OSPCore
import S3Signing

/// The signature targets. Each input is a request head (`RequestHeadInput`) that goes through what
/// the server does before it trusts anything: `ClientAuthentication.parse`, then
/// `RequestVerifier.verify` against a fixed secret, so canonicalisation, date parsing and the payload
/// mode all run whether or not the signature matches. The secret and the clock are the AWS
/// documentation's, so seeds taken from the AWS examples verify and the fuzzer starts from requests
/// that pass.
///
/// The SigV4 targets also check a property: a request `SigV4Signer` signed (headers, or presigned
/// query) verifies. The verifier and the signer share the canonicalisation, but not the parsing of
/// what the signer wrote, so a disagreement there is a refused-but-valid request — a bug.
enum AuthenticationFuzzing {
    /// Only the property checks' own signer names it (verification checks the secret, not the key
    /// id), so it need not be the one the seeds carry.
    static let accessKey = "OSPFUZZACCESSKEY"
    /// The AWS documentation's published example secret, which the AWS-example seeds are signed with.
    static let secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    /// 20130524T000000Z, the instant of every AWS SigV4 example.
    static let now = AmzDate(secondsSinceEpoch: 1_369_353_600)
    static let keyCache = SigningKeyCache(capacity: 64)
    static let verifier = RequestVerifier(keyCache: keyCache)
    static let signer = SigV4Signer(accessKey: accessKey, secretKey: secretKey, region: "us-east-1", keyCache: keyCache)
    /// SigV2 signs the path-style resource; the router finds the bucket of virtual-host requests.
    static let router = S3RequestRouter(virtualHostDomains: ["s3.amazonaws.com"])

    static let payloadHashes = [
        "UNSIGNED-PAYLOAD",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    ]

    // MARK: Targets

    static func sigV4Header(_ input: [UInt8]) -> FuzzOutcome {
        let head = RequestHeadInput(input)
        datesRoundTrip(head)
        let outcome = authenticate(head)
        signedHeadersVerify(head, payloadHash: payloadHashes[input.count % payloadHashes.count])
        return outcome
    }

    static func sigV4Query(_ input: [UInt8]) -> FuzzOutcome {
        let head = RequestHeadInput(input)
        let outcome = authenticate(head)
        presignedQueryVerifies(head, expires: Int64(1 + input.count * 7919 % Int(SigV4PresignedQuery.maximumExpiresSeconds)))
        return outcome
    }

    static func sigV2(_ input: [UInt8]) -> FuzzOutcome {
        let head = RequestHeadInput(input)
        datesRoundTrip(head)
        let request = IncomingRequest(method: head.method, target: head.target, headers: head.headers)
        // What the server passes as SigV2's resource (S3ProxyHandler.sigV2Resource): the path-style
        // `/bucket/key` however the request was addressed.
        var resource: String?
        if let route = try? router.route(
            method: head.method, rawPath: request.rawPath, rawQuery: request.rawQuery,
            host: head.headers.first(name: "host"), headers: head.headers)
        {
            if let bucket = route.bucket {
                if route.key == nil {
                    resource = "/" + bucket + "/"
                } else if case .virtualHost = route.addressing {
                    resource = "/" + bucket + request.rawPath
                } else {
                    resource = request.rawPath
                }
            } else {
                resource = "/"
            }
        }
        return authenticate(head, sigV2ResourcePath: resource)
    }

    // MARK: What the server does

    /// Parse, then verify; refusals are fine, traps are not.
    static func authenticate(_ head: RequestHeadInput, sigV2ResourcePath: String? = nil) -> FuzzOutcome {
        let request = IncomingRequest(method: head.method, target: head.target, headers: head.headers)
        do {
            let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
            let verified = try verifier.verify(
                auth, request: request, secretKey: secretKey, now: now, sigV2ResourcePath: sigV2ResourcePath)
            return .accepted("\(verified.version), \(verified.payloadMode.headerValue)\(verified.isPresigned ? ", presigned" : "")")
        } catch {
            return .refused(error.code.rawValue)
        }
    }

    // MARK: Properties

    /// A query with no authentication parameters of its own, which a signer may add to.
    private static func isPlainQuery(_ rawQuery: Substring) -> Bool {
        guard (try? ClientAuthentication.parse(headers: HTTPHeaders(), rawQuery: String(rawQuery))) == .anonymous else {
            return false
        }
        // The verifier reads the first X-Amz-* parameter of each name; the signer appends its own.
        for part in rawQuery.utf8.split(separator: UInt8(ascii: "&")) {
            let name = Substring(part.prefix { $0 != UInt8(ascii: "=") })
            guard let decoded = SigV4Canonical.percentDecode(name) else { return false }
            if decoded.hasPrefix("X-Amz-") { return false }
        }
        return true
    }

    /// A `Date` or `x-amz-date` osp can read, it can write in both forms and read back as the same
    /// instant (the verifier formats the client's date into the string to sign and the scope check).
    static func datesRoundTrip(_ head: RequestHeadInput) {
        for value in head.headers["date"] + head.headers["x-amz-date"] {
            guard let date = AmzDate(httpOrAmzDate: value) else { continue }
            invariant(AmzDate(iso8601Basic: date.amzDate) == date, "\(value) reads back as \(date.amzDate)")
            invariant(AmzDate(rfc1123: date.rfc1123) == date, "\(value) reads back as \(date.rfc1123)")
            invariant(date.amzDate.hasPrefix(date.dateStamp), "date stamp \(date.dateStamp) of \(date.amzDate)")
        }
    }

    /// `SigV4Signer.signHeaders` output verifies, with the payload mode it announced.
    static func signedHeadersVerify(_ head: RequestHeadInput, payloadHash: String) {
        guard head.isWellFormed, isPlainQuery(head.rawQuery) else { return }
        var headers = head.headers
        headers.remove(name: "authorization")
        if !headers.contains(name: "host") {
            headers.add(name: "host", value: "examplebucket.s3.amazonaws.com")
        }
        signer.signHeaders(
            method: head.method, rawPath: String(head.rawPath), rawQuery: String(head.rawQuery), headers: &headers,
            payloadHash: payloadHash, date: now)
        let request = IncomingRequest(method: head.method, target: head.target, headers: headers)
        do {
            let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
            guard case .sigV4Header = auth else {
                invariant(false, "a header-signed request parsed as \(auth)")
                return
            }
            let verified = try verifier.verify(auth, request: request, secretKey: secretKey, now: now)
            invariant(verified.payloadMode == (try? PayloadMode(headerValue: payloadHash)), "payload mode \(verified.payloadMode) for \(payloadHash)")
            invariant(verified.payloadMode.isSigned == (verified.chunkSigning != nil), "chunk signing context and payload mode disagree")
        } catch {
            invariant(false, "a request SigV4Signer signed was refused: \(error)")
        }
    }

    /// `SigV4Signer.presignedQuery` output verifies within its lifetime.
    static func presignedQueryVerifies(_ head: RequestHeadInput, expires: Int64) {
        guard head.isWellFormed, isPlainQuery(head.rawQuery) else { return }
        let host = head.headers.first(name: "host") ?? "examplebucket.s3.amazonaws.com"
        let query = signer.presignedQuery(
            method: head.method, rawPath: String(head.rawPath), rawQuery: String(head.rawQuery), host: host, date: now,
            expires: expires)
        var headers = head.headers
        headers.remove(name: "authorization")
        headers.replaceOrAdd(name: "host", value: host)
        // The URL signs only `host`: an `x-amz-*` header sent with it is refused (HeadersNotSigned).
        let amzHeaders = headers.filter { name, _ in name.utf8.count > 6 && name.lowercased().hasPrefix("x-amz-") }
        if !amzHeaders.isEmpty {
            let withThem = IncomingRequest(method: head.method, rawPath: String(head.rawPath), rawQuery: query, headers: headers)
            do {
                let auth = try ClientAuthentication.parse(headers: withThem.headers, rawQuery: withThem.rawQuery)
                _ = try verifier.verify(auth, request: withThem, secretKey: secretKey, now: now)
                invariant(false, "a presigned URL verified with x-amz-* headers it does not sign: \(amzHeaders.map(\.0))")
            } catch {
                invariant(error.code == .accessDenied, "a presigned URL with unsigned x-amz-* headers was \(error), not AccessDenied")
            }
            for (name, _) in amzHeaders { headers.remove(name: name) }
        }
        let request = IncomingRequest(method: head.method, rawPath: String(head.rawPath), rawQuery: query, headers: headers)
        do {
            let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
            guard case .sigV4Query(let presigned) = auth else {
                invariant(false, "a presigned request parsed as \(auth)")
                return
            }
            invariant(presigned.expiresSeconds == expires, "X-Amz-Expires read back as \(presigned.expiresSeconds), not \(expires)")
            let later = AmzDate(secondsSinceEpoch: now.secondsSinceEpoch + expires)
            let verified = try verifier.verify(auth, request: request, secretKey: secretKey, now: later)
            invariant(verified.isPresigned && verified.payloadMode == .unsigned, "presigned request verified as \(verified.payloadMode)")
        } catch {
            invariant(false, "a URL SigV4Signer presigned was refused: \(error)")
        }
    }
}
