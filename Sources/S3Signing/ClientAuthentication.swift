import NIOHTTP1

/// The credentials a client presented, as parsed from the request head before any secret is looked
/// up. Separating parsing from verification lets the server find the access key (and refuse a
/// malformed request) first, then fetch the secret, then verify.
public enum ClientAuthentication: Sendable, Equatable {
    case sigV4Header(SigV4Authorization)
    case sigV4Query(SigV4PresignedQuery)
    case sigV2Header(accessKey: String, signature: String)
    case sigV2Query(accessKey: String, signature: String, expires: Int64)
    /// A browser form upload (POST Object): the credentials are form fields in the body, verified
    /// against the form's POST policy rather than the request head (never from `parse`).
    case postPolicy(PostPolicySignature)
    case anonymous

    /// The access key the client claims, if any.
    public var accessKey: String? {
        switch self {
        case .sigV4Header(let auth): return auth.accessKey
        case .sigV4Query(let query): return query.accessKey
        case .sigV2Header(let accessKey, _), .sigV2Query(let accessKey, _, _): return accessKey
        case .postPolicy(let signature): return signature.accessKey
        case .anonymous: return nil
        }
    }

    /// Finds the one authentication mechanism a request uses.
    public static func parse(headers: HTTPHeaders, rawQuery: String) throws(S3Error) -> ClientAuthentication {
        let authorization = headers["authorization"]
        let query = rawQuery.isEmpty ? nil : QueryParameters(rawQuery: rawQuery)
        let hasV4Query = query.map { $0.contains("X-Amz-Algorithm") || $0.contains("X-Amz-Signature") || $0.contains("X-Amz-Credential") } ?? false
        let hasV2Query = query.map { $0.contains("AWSAccessKeyId") || $0.contains("Signature") } ?? false

        if !authorization.isEmpty {
            guard !hasV4Query, !hasV2Query else {
                throw S3Error(.invalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
            }
            guard authorization.count == 1 else {
                throw S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; more than one Authorization header was sent.")
            }
            return try parseAuthorizationHeader(authorization[0])
        }
        if let query, hasV4Query {
            guard !hasV2Query else {
                throw S3Error(.invalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
            }
            return .sigV4Query(try SigV4PresignedQuery(query))
        }
        if let query, hasV2Query {
            return try parseSigV2Query(query)
        }
        return .anonymous
    }

    private static func parseAuthorizationHeader(_ value: String) throws(S3Error) -> ClientAuthentication {
        let trimmed = value.drop(while: { $0 == " " })
        if trimmed.hasPrefix("AWS4-HMAC-SHA256 ") {
            return .sigV4Header(try SigV4Authorization(parameters: trimmed.dropFirst("AWS4-HMAC-SHA256 ".count)))
        }
        if trimmed.hasPrefix("AWS4-ECDSA-P256-SHA256 ") {
            throw S3Error(.notImplemented, "SigV4a (AWS4-ECDSA-P256-SHA256) is not supported.")
        }
        if trimmed.hasPrefix("AWS ") {
            let credentials = trimmed.dropFirst(4).trimmingSpaces()
            guard let colon = credentials.lastIndex(of: ":") else {
                throw S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; expected AWS AccessKeyId:Signature.")
            }
            let accessKey = credentials[..<colon]
            let signature = credentials[credentials.index(after: colon)...]
            guard !accessKey.isEmpty, !signature.isEmpty else {
                throw S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; expected AWS AccessKeyId:Signature.")
            }
            return .sigV2Header(accessKey: String(accessKey), signature: String(signature))
        }
        throw S3Error(.authorizationHeaderMalformed, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
    }

    private static func parseSigV2Query(_ query: QueryParameters) throws(S3Error) -> ClientAuthentication {
        guard let accessKey = query["AWSAccessKeyId"], !accessKey.isEmpty,
            let signature = query["Signature"], !signature.isEmpty,
            let expiresText = query["Expires"]
        else {
            throw S3Error(.accessDenied, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
        }
        guard let expires = Int64(expiresText) else {
            throw S3Error(.accessDenied, "Invalid date (should be seconds since epoch): \(expiresText)")
        }
        return .sigV2Query(accessKey: accessKey, signature: signature, expires: expires)
    }
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header.
public struct SigV4Authorization: Sendable, Equatable {
    public var accessKey: String
    public var dateStamp: String
    public var region: String
    public var service: String
    /// Lowercase header names, in the order the client listed (and signed) them.
    public var signedHeaders: [String]
    /// 64 hex digits.
    public var signature: String

    /// `<date>/<region>/<service>/aws4_request`
    public var scope: String { "\(dateStamp)/\(region)/\(service)/aws4_request" }

    public init(
        accessKey: String, dateStamp: String, region: String, service: String, signedHeaders: [String],
        signature: String
    ) {
        self.accessKey = accessKey
        self.dateStamp = dateStamp
        self.region = region
        self.service = service
        self.signedHeaders = signedHeaders
        self.signature = signature
    }

    /// Parses the part after `AWS4-HMAC-SHA256 `: comma-separated `Name=value` parameters in any order,
    /// with or without spaces after the commas.
    init(parameters: Substring) throws(S3Error) {
        var credential: Substring?
        var signedHeaders: Substring?
        var signature: Substring?
        for parameter in parameters.split(separator: ",") {
            let parameter = parameter.trimmingSpaces()
            guard let eq = parameter.firstIndex(of: "=") else {
                throw Self.malformed("the authorization header requires parameters in the form Name=value")
            }
            let value = parameter[parameter.index(after: eq)...]
            // A parameter given twice is refused, not "last one wins": two parsers of the same header
            // (here, a log reader, a WAF) must never disagree on which credential was presented.
            switch parameter[..<eq] {
            case "Credential" where credential == nil: credential = value
            case "SignedHeaders" where signedHeaders == nil: signedHeaders = value
            case "Signature" where signature == nil: signature = value
            case "Credential", "SignedHeaders", "Signature":
                throw Self.malformed("the parameter \(parameter[..<eq]) is given more than once")
            default: throw Self.malformed("unknown authorization header parameter \(parameter[..<eq])")
            }
        }
        guard let credential else { throw Self.malformed("missing Credential") }
        guard let signedHeaders else { throw Self.malformed("missing SignedHeaders") }
        guard let signature else { throw Self.malformed("missing Signature") }
        guard let scope = SigV4CredentialScope(credential) else {
            throw Self.malformed("the Credential parameter must be AccessKey/YYYYMMDD/region/service/aws4_request")
        }
        guard Hex.isHex(signature, count: 64) else {
            throw Self.malformed("the Signature must be 64 hexadecimal digits")
        }
        guard let headers = parseSignedHeaders(signedHeaders) else {
            throw Self.malformed("SignedHeaders must be a non-empty ;-separated list that includes host")
        }
        self.init(
            accessKey: scope.accessKey, dateStamp: scope.dateStamp, region: scope.region, service: scope.service,
            signedHeaders: headers, signature: String(signature))
    }

    private static func malformed(_ detail: String) -> S3Error {
        S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; \(detail).")
    }
}

/// A parsed SigV4 presigned URL (`X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…`).
public struct SigV4PresignedQuery: Sendable, Equatable {
    public var accessKey: String
    public var dateStamp: String
    public var region: String
    public var service: String
    public var amzDate: AmzDate
    public var expiresSeconds: Int64
    public var signedHeaders: [String]
    public var signature: String
    /// `X-Amz-Security-Token`, when the URL was presigned with temporary credentials.
    public var securityToken: String?
    /// `X-Amz-Content-Sha256`, when the presigner fixed the payload hash.
    public var contentSHA256: String?

    /// `<date>/<region>/<service>/aws4_request`
    public var scope: String { "\(dateStamp)/\(region)/\(service)/aws4_request" }

    /// The largest X-Amz-Expires S3 accepts: seven days.
    public static let maximumExpiresSeconds: Int64 = 604_800

    init(_ query: QueryParameters) throws(S3Error) {
        guard let isV4 = query.first("X-Amz-Algorithm", equals: "AWS4-HMAC-SHA256") else {
            throw Self.error("X-Amz-Algorithm is missing")
        }
        guard isV4 else {
            throw Self.error("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        }
        // Credential, signed headers and signature are read from the query's bytes (decoded only
        // when they hold a `%`, as the credential's slashes usually are): no string is made of
        // any of them but the fields kept.
        guard let scope = query.withFirstValue("X-Amz-Credential", SigV4CredentialScope.init(bytes:)) ?? nil else {
            throw Self.error("X-Amz-Credential must be AccessKey/YYYYMMDD/region/service/aws4_request")
        }
        guard let date = query.withFirstValue("X-Amz-Date", AmzDate.init(iso8601BasicUTF8:)) ?? nil else {
            throw Self.error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        }
        guard let expiresText = query["X-Amz-Expires"], let expires = Int64(expiresText) else {
            throw Self.error("X-Amz-Expires should be a number")
        }
        guard expires >= 0 else { throw Self.error("X-Amz-Expires must be non-negative") }
        guard expires <= Self.maximumExpiresSeconds else {
            throw Self.error("X-Amz-Expires must be less than a week (in seconds) that is 604800")
        }
        guard let signedHeaders = query.withFirstValue("X-Amz-SignedHeaders", parseSignedHeaders(bytes:)) ?? nil else {
            throw Self.error("X-Amz-SignedHeaders must be a non-empty ;-separated list that includes host")
        }
        let signatureValue = query.withFirstValue("X-Amz-Signature") { bytes in
            Hex.isHex(bytes, count: 64) ? String(decoding: bytes, as: UTF8.self) : nil
        }
        guard let signature = signatureValue ?? nil else {
            throw Self.error("X-Amz-Signature must be 64 hexadecimal digits")
        }
        self.accessKey = scope.accessKey
        self.dateStamp = scope.dateStamp
        self.region = scope.region
        self.service = scope.service
        self.amzDate = date
        self.expiresSeconds = expires
        self.signedHeaders = signedHeaders
        self.signature = signature
        self.securityToken = query["X-Amz-Security-Token"]
        self.contentSHA256 = query["X-Amz-Content-Sha256"] ?? query["X-Amz-Content-SHA256"]
    }

    private static func error(_ detail: String) -> S3Error {
        S3Error(.authorizationQueryParametersError, "Query-string authentication version 4: \(detail).")
    }
}

/// `AKIDEXAMPLE/20130524/us-east-1/s3/aws4_request`, split.
struct SigV4CredentialScope {
    var accessKey: String
    var dateStamp: String
    var region: String
    var service: String

    init?(_ credential: Substring) {
        guard let scope = credential.withContiguousUTF8({ Self(bytes: $0) }) else { return nil }
        self = scope
    }

    /// The credential as UTF-8 bytes: split from the end, on the bytes (this runs for every
    /// request, and `/` is ASCII), because the four scope fields never contain '/' and the access
    /// key in theory could.
    init?(bytes: UnsafeBufferPointer<UInt8>) {
        var end = bytes.count
        /// The field before `end`, moving `end` to its slash.
        func fieldBeforeEnd() -> Slice<UnsafeBufferPointer<UInt8>>? {
            guard let slash = bytes[..<end].lastIndex(of: UInt8(ascii: "/")) else { return nil }
            defer { end = slash }
            return bytes[(slash + 1)..<end]
        }
        guard let terminator = fieldBeforeEnd(), terminator.elementsEqual("aws4_request".utf8),
            let service = fieldBeforeEnd(), let region = fieldBeforeEnd(), let dateStamp = fieldBeforeEnd()
        else { return nil }
        let accessKey = bytes[..<end]
        guard !accessKey.isEmpty, dateStamp.count == 8, dateStamp.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            !region.isEmpty, !service.isEmpty
        else { return nil }
        self.accessKey = String(decoding: accessKey, as: UTF8.self)
        self.dateStamp = String(decoding: dateStamp, as: UTF8.self)
        self.region = String(decoding: region, as: UTF8.self)
        self.service = String(decoding: service, as: UTF8.self)
    }
}

/// `host;range;x-amz-date` → lowercase names; nil when empty, with an empty name, or without `host`.
private func parseSignedHeaders(_ text: Substring) -> [String]? {
    text.withContiguousUTF8 { parseSignedHeaders(bytes: $0) }
}

/// `parseSignedHeaders` on the list's UTF-8 bytes: each name trimmed of spaces and tabs, and
/// lowercased in place when it is ASCII (header names are), by `String.lowercased()` otherwise.
private func parseSignedHeaders(bytes: UnsafeBufferPointer<UInt8>) -> [String]? {
    var names: [String] = []
    names.reserveCapacity(8)
    var hasHost = false
    var start = 0
    while true {
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: ";") { end += 1 }
        var first = start
        var last = end
        while first < last, bytes[first] == UInt8(ascii: " ") || bytes[first] == UInt8(ascii: "\t") { first += 1 }
        while last > first, bytes[last - 1] == UInt8(ascii: " ") || bytes[last - 1] == UInt8(ascii: "\t") { last -= 1 }
        guard first < last else { return nil }
        let raw = UnsafeBufferPointer(rebasing: bytes[first..<last])
        let name: String
        if raw.allSatisfy({ $0 < 0x80 }) {
            name = String(unsafeUninitializedCapacity: raw.count) { out in
                for (i, c) in raw.enumerated() {
                    out[i] = c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c | 0x20 : c
                }
                return raw.count
            }
        } else {
            name = String(decoding: raw, as: UTF8.self).lowercased()
        }
        if name == "host" { hasHost = true }
        names.append(name)
        guard end < bytes.count else { break }
        start = end + 1
    }
    return hasHost ? names : nil
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s.removeFirst() }
        while let last = s.last, last == " " || last == "\t" { s.removeLast() }
        return s
    }
}
