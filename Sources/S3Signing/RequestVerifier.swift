import Crypto
import NIOHTTP1

/// Which signature scheme authenticated a request.
public enum SignatureVersion: Sendable, Equatable {
    case v2
    case v4
}

/// A request whose signature checked out, with what the body handling needs to know next.
public struct VerifiedRequest: Sendable {
    public var accessKey: String
    public var version: SignatureVersion
    public var payloadMode: PayloadMode
    /// For `streamingSigned(+Trailer)`: the client's chunk chain (seed signature, key, date, scope).
    public var chunkSigning: ChunkSigningContext?
    public var isPresigned: Bool

    public init(
        accessKey: String, version: SignatureVersion, payloadMode: PayloadMode,
        chunkSigning: ChunkSigningContext?, isPresigned: Bool
    ) {
        self.accessKey = accessKey
        self.version = version
        self.payloadMode = payloadMode
        self.chunkSigning = chunkSigning
        self.isPresigned = isPresigned
    }
}

/// Proves a client holds the secret for the access key it names: rebuilds the string the client
/// signed from the request exactly as received, signs it with the secret, compares in constant time,
/// and enforces clock skew and presigned-URL expiry.
public struct RequestVerifier: Sendable {
    public let keyCache: SigningKeyCache
    public let maxClockSkewSeconds: Int64
    public let maxPresignExpirySeconds: Int64

    public init(keyCache: SigningKeyCache, maxClockSkewSeconds: Int64 = 900, maxPresignExpirySeconds: Int64 = 604_800) {
        self.keyCache = keyCache
        self.maxClockSkewSeconds = maxClockSkewSeconds
        self.maxPresignExpirySeconds = maxPresignExpirySeconds
    }

    /// Verifies `auth` (parsed from `request`) with `secretKey`.
    ///
    /// - Parameter sigV2ResourcePath: for SigV2 only, the path-style path `/bucket/key` as the client
    ///   sent it (percent-encoding preserved). SigV2 signs the bucket even for virtual-host requests,
    ///   where it is not in the path; nil means `request.rawPath` (right for path-style requests).
    public func verify(
        _ auth: ClientAuthentication,
        request: IncomingRequest,
        secretKey: String,
        now: AmzDate,
        sigV2ResourcePath: String? = nil
    ) throws(S3Error) -> VerifiedRequest {
        switch auth {
        case .sigV4Header(let authorization):
            return try verifySigV4Header(authorization, request: request, secretKey: secretKey, now: now)
        case .sigV4Query(let query):
            return try verifySigV4Query(query, request: request, secretKey: secretKey, now: now)
        case .sigV2Header(let accessKey, let signature):
            return try verifySigV2(
                accessKey: accessKey, signature: signature, expires: nil, request: request, secretKey: secretKey,
                now: now, resourcePath: sigV2ResourcePath ?? request.rawPath)
        case .sigV2Query(let accessKey, let signature, let expires):
            return try verifySigV2(
                accessKey: accessKey, signature: signature, expires: expires, request: request, secretKey: secretKey,
                now: now, resourcePath: sigV2ResourcePath ?? request.rawPath)
        case .postPolicy:
            // A form's signature covers its policy, not the request: `PostPolicySignature` checks it.
            throw S3Error(.internalError, "A POST policy is not verified as a request signature.")
        case .anonymous:
            throw S3Error.anonymousAccessDenied
        }
    }

    // MARK: SigV4, Authorization header

    private func verifySigV4Header(
        _ auth: SigV4Authorization, request: IncomingRequest, secretKey: String, now: AmzDate
    ) throws(S3Error) -> VerifiedRequest {
        let headers = request.headers
        let date: AmzDate
        if let amzDate = headers.first(name: "x-amz-date") {
            guard let parsed = AmzDate(iso8601Basic: amzDate.trimmingSpaces()) else {
                throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
            }
            date = parsed
        } else if let httpDate = headers.first(name: "date"), let parsed = AmzDate(rfc1123: httpDate) {
            date = parsed
        } else {
            throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
        }
        guard date.dateStamp == auth.dateStamp else {
            throw S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date.")
        }
        try checkSkew(date, now: now)

        guard let contentSHA256 = headers.first(name: "x-amz-content-sha256") else {
            throw S3Error(.invalidRequest, "Missing required header for this request: x-amz-content-sha256")
        }
        guard auth.signedHeaders.contains("x-amz-content-sha256") else {
            throw S3Error(.accessDenied, "There were headers present in the request which were not signed: x-amz-content-sha256")
        }
        let payloadMode = try PayloadMode(headerValue: contentSHA256)
        try Self.checkAmzHeadersSigned(headers, signedHeaders: auth.signedHeaders)

        let signingKey = keyCache.entry(secret: secretKey, dateStamp: auth.dateStamp, region: auth.region, service: auth.service)
        try checkSigV4(
            request: request, excludingSignatureParameter: false,
            signedHeaders: auth.signedHeaders, payloadHash: contentSHA256, amzDate: date.amzDate,
            signingKey: signingKey, provided: auth.signature)

        let chunkSigning = payloadMode.isSigned
            ? ChunkSigningContext(signingKey: signingKey.key, amzDate: date.amzDate, scope: signingKey.scope, seedSignature: auth.signature.lowercased())
            : nil
        return VerifiedRequest(
            accessKey: auth.accessKey, version: .v4, payloadMode: payloadMode, chunkSigning: chunkSigning,
            isPresigned: false)
    }

    // MARK: SigV4, presigned URL

    private func verifySigV4Query(
        _ query: SigV4PresignedQuery, request: IncomingRequest, secretKey: String, now: AmzDate
    ) throws(S3Error) -> VerifiedRequest {
        guard query.amzDate.dateStamp == query.dateStamp else {
            throw S3Error(.authorizationQueryParametersError, "Invalid credential date. Date is not the same as X-Amz-Date.")
        }
        guard query.expiresSeconds <= maxPresignExpirySeconds else {
            throw S3Error(.authorizationQueryParametersError, "X-Amz-Expires must be less than \(maxPresignExpirySeconds) seconds")
        }
        if query.amzDate.secondsSinceEpoch - now.secondsSinceEpoch > maxClockSkewSeconds {
            throw S3Error(.accessDenied, "Request is not valid yet")
        }
        if now.secondsSinceEpoch > query.amzDate.secondsSinceEpoch + query.expiresSeconds {
            throw S3Error(.accessDenied, "Request has expired")
        }

        // The presigner fixes the payload hash in the query, or (rarely) signs the header; otherwise
        // the body is unsigned.
        let payloadHash: String
        if let fixed = query.contentSHA256 {
            payloadHash = fixed
        } else if query.signedHeaders.contains("x-amz-content-sha256"), let header = request.headers.first(name: "x-amz-content-sha256") {
            payloadHash = header
        } else {
            payloadHash = "UNSIGNED-PAYLOAD"
        }
        let payloadMode = try PayloadMode(headerValue: payloadHash)
        try Self.checkAmzHeadersSigned(request.headers, signedHeaders: query.signedHeaders)

        let signingKey = keyCache.entry(secret: secretKey, dateStamp: query.dateStamp, region: query.region, service: query.service)
        try checkSigV4(
            request: request,
            excludingSignatureParameter: true,
            signedHeaders: query.signedHeaders, payloadHash: payloadHash, amzDate: query.amzDate.amzDate,
            signingKey: signingKey, provided: query.signature)

        let chunkSigning = payloadMode.isSigned
            ? ChunkSigningContext(signingKey: signingKey.key, amzDate: query.amzDate.amzDate, scope: signingKey.scope, seedSignature: query.signature.lowercased())
            : nil
        return VerifiedRequest(
            accessKey: query.accessKey, version: .v4, payloadMode: payloadMode, chunkSigning: chunkSigning,
            isPresigned: true)
    }

    /// AWS requires every `x-amz-*` header of a SigV4 request to be signed (else 403 with its
    /// `HeadersNotSigned`): the signature must cover what such headers ask for — an ACL, tags, a
    /// copy source, a retention. osp passes them on re-signed with the backend's key, so without
    /// this, whoever holds a presigned URL (a bearer token, often handed to a browser), or replays a
    /// signed request within its 15 minutes, could add `x-amz-copy-source` or `x-amz-acl` and have
    /// osp ask for them in the signer's name. (SigV2 signs every `x-amz-*` header by construction.)
    private static func checkAmzHeadersSigned(_ headers: HTTPHeaders, signedHeaders: [String]) throws(S3Error) {
        for (name, _) in headers where SigV4Signer.isAmzHeader(name) {
            guard signedHeaders.contains(where: { name.equalsLowercaseASCII($0) }) else {
                throw S3Error(.accessDenied, "There were headers present in the request which were not signed: \(name.lowercased())")
            }
        }
    }

    private func checkSigV4(
        request: IncomingRequest, excludingSignatureParameter: Bool, signedHeaders: [String], payloadHash: String,
        amzDate: String, signingKey: SigV4SigningKey, provided: String
    ) throws(S3Error) {
        let canonicalRequest = SigV4Canonical.canonicalRequestHash(
            method: request.method,
            rawPath: request.rawPath,
            rawQuery: request.rawQuery,
            excludingSignatureParameter: excludingSignatureParameter,
            headers: request.headers,
            signedHeaders: signedHeaders,
            payloadHash: payloadHash)
        if canonicalRequest.missingSignedHeader {
            throw S3Error.signatureMismatch
        }
        // The scope is the signing key's own: derived for the credential's date, region and service.
        let expected = SigV4Canonical.signatureMAC(
            signingKey: signingKey, amzDate: amzDate, scope: signingKey.scope, canonicalRequestHash: canonicalRequest.hash)
        // `provided` was checked to be 64 hex digits; compared with the MAC's digits in place.
        guard expected.withUnsafeBytes({ constantTimeEqualsHex(digest: $0, provided: provided) }) else {
            throw S3Error.signatureMismatch
        }
    }

    // MARK: SigV2

    private func verifySigV2(
        accessKey: String, signature: String, expires: Int64?, request: IncomingRequest, secretKey: String,
        now: AmzDate, resourcePath: String
    ) throws(S3Error) -> VerifiedRequest {
        let headers = request.headers
        let query = request.rawQuery.isEmpty ? nil : QueryParameters(rawQuery: request.rawQuery)
        let dateOrExpires: String
        if let expires {
            if now.secondsSinceEpoch > expires {
                throw S3Error(.accessDenied, "Request has expired")
            }
            dateOrExpires = String(expires)
        } else {
            // x-amz-date, when present, takes the Date header's place and the Date line stays empty.
            let amzDate = headers.first(name: "x-amz-date")
            let dateHeader = headers.first(name: "date")
            guard let dateText = amzDate ?? dateHeader, let date = AmzDate(httpOrAmzDate: dateText.trimmingSpaces()) else {
                throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
            }
            try checkSkew(date, now: now)
            dateOrExpires = amzDate == nil ? dateText.trimmingSpaces() : ""
        }

        var payloadMode = PayloadMode.unsigned
        if let contentSHA256 = headers.first(name: "x-amz-content-sha256") {
            payloadMode = try PayloadMode(headerValue: contentSHA256)
            guard !payloadMode.isSigned else {
                throw S3Error(.invalidRequest, "Signed aws-chunked payloads require AWS Signature Version 4.")
            }
        }

        let amzHeaders = SigV2.canonicalizedAmzHeaders(headers, query: expires == nil ? nil : query)
        let awsResource = SigV2.canonicalizedResource(path: resourcePath, rawQuery: request.rawQuery, subResources: SigV2.awsSubResources)
        let botocoreResource = SigV2.canonicalizedResource(path: resourcePath, rawQuery: request.rawQuery, subResources: SigV2.botocoreSubResources)
        var matched = false
        for resource in awsResource == botocoreResource ? [awsResource] : [awsResource, botocoreResource] {
            let stringToSign = SigV2.stringToSign(
                method: request.method, headers: headers, dateOrExpires: dateOrExpires, amzHeaders: amzHeaders,
                resource: resource)
            if constantTimeEquals(SigV2.signature(secret: secretKey, stringToSign: stringToSign), signature) {
                matched = true
            }
        }
        guard matched else { throw S3Error.signatureMismatch }
        return VerifiedRequest(
            accessKey: accessKey, version: .v2, payloadMode: payloadMode, chunkSigning: nil,
            isPresigned: expires != nil)
    }

    // MARK: Time

    private func checkSkew(_ date: AmzDate, now: AmzDate) throws(S3Error) {
        let skew = date.secondsSinceEpoch - now.secondsSinceEpoch
        if skew > maxClockSkewSeconds || -skew > maxClockSkewSeconds {
            throw S3Error(.requestTimeTooSkewed, "The difference between the request time and the current time is too large.")
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(Substring(self).trimmingSpaces())
    }
}
