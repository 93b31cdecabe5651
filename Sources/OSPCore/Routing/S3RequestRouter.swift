import NIOHTTP1
import S3Signing

/// Turns a request head into an `S3Route`: which bucket and key it addresses (path style or virtual
/// host under a configured base domain), which S3 operation it is and the IAM action that operation
/// needs. Pure and synchronous, so it runs once per request before anything else looks at the request.
public struct S3RequestRouter: Sendable {
    /// The base domains, lowercase and without a trailing dot, longest first so that a bucket under
    /// `eu.s3.example` is not read as bucket `x.eu` under `s3.example`.
    public let virtualHostDomains: [String]
    /// `"." + domain` for each domain, to match host suffixes without allocating per request.
    private let dottedDomains: [String]
    /// Whether keys (and copy-source keys) with `.` or `..` segments are refused or taken literally.
    public let dotSegmentKeys: DotSegmentKeys

    public init(virtualHostDomains: [String], dotSegmentKeys: DotSegmentKeys = .refuse) {
        self.dotSegmentKeys = dotSegmentKeys
        let normalized = virtualHostDomains.map { domain in
            var domain = domain.lowercased()
            while domain.hasSuffix(".") { domain.removeLast() }
            return domain
        }
        self.virtualHostDomains = Array(Set(normalized.filter { !$0.isEmpty })).sorted {
            $0.utf8.count != $1.utf8.count ? $0.utf8.count > $1.utf8.count : $0 < $1
        }
        self.dottedDomains = self.virtualHostDomains.map { "." + $0 }
    }

    /// Routes one request.
    /// - Parameters:
    ///   - rawPath: the request target's path, as sent (percent-encoded), without the query.
    ///   - rawQuery: the request target's query, as sent, without the `?`.
    ///   - host: the Host header, if any (a port is ignored).
    /// - Throws: `.methodNotAllowed` for CONNECT/TRACE, `.invalidURI` for a path that is not
    ///   origin-form or a key that is not validly percent-encoded UTF-8, `.invalidBucketName`,
    ///   `.invalidArgument` for a malformed `x-amz-copy-source` and for a key or copy-source key
    ///   with a `.` or `..` segment (unless `dotSegmentKeys` is `.literal`).
    public func route(
        method: String,
        rawPath: String,
        rawQuery: String,
        host: String?,
        headers: HTTPHeaders
    ) throws(S3Error) -> S3Route {
        if method == "CONNECT" || method == "TRACE" {
            throw S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")
        }
        guard rawPath.utf8.first == UInt8(ascii: "/") else {
            throw S3Error(.invalidURI, "Couldn't parse the specified URI.")
        }
        // One pass over the headers (every request): the override, rename and extension headers all start with `x-`.
        for (name, _) in headers where name.hasLowercaseASCIIPrefix("x-") {
            if Self.overridingHeaders.contains(where: { name.equalsLowercaseASCII($0) }) {
                throw S3Error(.invalidArgument, "This gateway does not accept the \(name) header.")
            }
            if name.equalsLowercaseASCII("x-amz-rename-source") { throw Self.renameSource }
            if Self.isBackendExtension(Substring(name)) { throw Self.backendExtension(name) }
        }

        let bucket: String?
        let rawKeyPath: Substring
        let addressing: AddressingMode
        if let (hostBucket, domain) = virtualHostBucket(host: host) {
            guard RequestBucketName.isAcceptable(hostBucket) else { throw Self.invalidBucketName }
            bucket = hostBucket
            rawKeyPath = rawPath[...]
            addressing = .virtualHost(domain: domain)
        } else {
            let afterRoot = rawPath.dropFirst()
            addressing = .path
            if afterRoot.isEmpty {
                bucket = nil
                rawKeyPath = afterRoot
            } else {
                let bucketEnd = afterRoot.firstIndex(of: "/") ?? afterRoot.endIndex
                guard let decoded = PercentDecoding.decode(afterRoot[..<bucketEnd]), RequestBucketName.isAcceptable(decoded) else {
                    throw Self.invalidBucketName
                }
                bucket = decoded
                rawKeyPath = afterRoot[bucketEnd...]
            }
        }

        var key: String?
        if bucket != nil, rawKeyPath.utf8.count > 1 {
            guard !rawKeyPath.utf8.contains(UInt8(ascii: "+")) else { throw Self.plusInKey }
            guard let decoded = PercentDecoding.decode(rawKeyPath.dropFirst()) else {
                throw S3Error(.invalidURI, "Couldn't parse the specified URI.")
            }
            if self.dotSegmentKeys == .refuse, DotSegmentKeys.hasDotSegment(decoded) { throw Self.dotSegment }
            key = decoded
        }

        var route = S3Route(
            bucket: bucket,
            key: key,
            rawKeyPath: String(rawKeyPath),
            addressing: addressing,
            operation: .unknown
        )
        try classify(&route, method: method, rawQuery: rawQuery, headers: headers)
        return route
    }

    /// Fills in the operation (and copy source) from the method, the query's subresources and
    /// `x-amz-copy-source`.
    private func classify(_ route: inout S3Route, method: String, rawQuery: String, headers: HTTPHeaders) throws(S3Error) {
        if method == "OPTIONS" {
            route.operation = .preflightRequest
            return
        }
        let target: S3OperationTable.Target = route.bucket == nil ? .service : (route.key == nil ? .bucket : .object)
        let query = RequestQuery(rawQuery: rawQuery)
        try Self.checkQuery(query)
        let copySourceHeaders = headers["x-amz-copy-source"]
        let row = S3OperationTable.row(method: method, target: target, query: query, hasCopySource: !copySourceHeaders.isEmpty)
        if !copySourceHeaders.isEmpty, !(row?.readsCopySource ?? false) { throw Self.copySourceOutsideCopy }
        guard let row else {
            route.operation = .unknown
            if method != "GET" && method != "HEAD" {
                route.alsoSets = WriteSettings(operation: route.operation.name, headers: headers, query: query)
            }
            return
        }
        route.operation = row.operation
        if method != "GET" && method != "HEAD" {
            route.alsoSets = WriteSettings(operation: row.operation.name, headers: headers, query: query)
        }
        if let versionAction = row.versionAction, query.contains("versionId") {
            route.operation.action = versionAction
        }
        if row.readsCopySource {
            guard copySourceHeaders.count == 1 else {
                throw S3Error(.invalidArgument, "Invalid copy source: more than one x-amz-copy-source header")
            }
            let source = try CopySource(headerValue: copySourceHeaders[0])
            if self.dotSegmentKeys == .refuse, DotSegmentKeys.hasDotSegment(source.key) { throw Self.dotSegment }
            route.copySource = source
        }
    }

    /// The query parameters a policy judges a request by — `prefix` for rules; `prefix`,
    /// `delimiter`, `max-keys` and `versionId` in OPA's conditions (`Authorizer`), `versionId` also
    /// choosing `s3:GetObjectVersion` over `s3:GetObject` — must each mean to osp what they mean to
    /// the backend. A raw `+` is a space to most backends (form decoding: Go's, Python's, AWS's) and
    /// a plus to osp and others — `prefix=a+b` would be judged as `a+b` and list `a b`; AWS version
    /// ids hold `+` too — and which of two repeated parameters counts differs between parsers. So
    /// both are refused; clients encode `+` as `%2B`.
    static let authorizedParameters = ["prefix", "delimiter", "max-keys", "versionId"]

    /// The query's refusals, in one pass (it runs for every request): the authorized parameters
    /// above, given once and without a raw `+`; and, under names SDKs hoist from headers when
    /// presigning, a copy or rename source (a backend reading one there would copy or move an
    /// object osp never checked: osp reads and rewrites the copy source from the header only) and
    /// a backend extension (`isBackendExtension`).
    static func checkQuery(_ query: RequestQuery) throws(S3Error) {
        var seen = 0
        for parameter in query.parameters {
            let name = parameter.name
            if name.hasLowercaseASCIIPrefix("x-") {
                if name.hasLowercaseASCIIPrefix("x-amz-copy-source") { throw Self.copySourceInQuery }
                if name.hasLowercaseASCIIPrefix("x-amz-rename-source") { throw Self.renameSource }
                if Self.isBackendExtension(name) { throw Self.backendExtension(String(name)) }
                continue
            }
            if name == "session" { throw Self.createSession }
            guard let index = Self.authorizedParameters.firstIndex(where: { name == $0 }) else { continue }
            guard seen & (1 << index) == 0 else {
                throw S3Error(.invalidArgument, "The query parameter \(name) is given more than once.")
            }
            seen |= 1 << index
            if parameter.rawValue.utf8.contains(UInt8(ascii: "+")) {
                throw S3Error(.invalidArgument, "A + in the query parameter \(name) is ambiguous (a space or a plus); encode a plus as %2B, a space as %20.")
            }
        }
    }

    /// A raw `+` in a key is a space to AWS S3 (which reads paths form-decoded) and a plus to other
    /// backends (MinIO, Ceph): osp would judge one key and the backend serve another —
    /// `team/top+secret/plan` allowed as a plus, read by S3 as `team/top secret/plan`. Clients
    /// encode a plus in a key as `%2B` (the SDKs, the aws cli, rclone, …), so a raw one is refused.
    static let plusInKey = S3Error(
        .invalidURI,
        "A + in an object key is read as a space by some backends and as a plus by others; encode a plus as %2B, a space as %20."
    )

    static let copySourceInQuery = S3Error(
        .invalidArgument,
        "This gateway takes x-amz-copy-source (and its conditions) as a request header only, not as a query parameter."
    )

    /// `x-amz-copy-source` names an object the request reads; osp reads and authorizes it (and
    /// rewrites it for the backend) for CopyObject and UploadPartCopy only. On any other request —
    /// one osp does not recognise above all (`PUT /b/k?unknown=1`, which a backend ignoring the
    /// parameter runs as a copy) — the source would reach the backend unread: refused.
    static let copySourceOutsideCopy = S3Error(
        .invalidArgument,
        "x-amz-copy-source is accepted on CopyObject and UploadPartCopy only: this gateway authorizes the source of no other request."
    )

    /// CreateSession (`GET /bucket?session`, S3 Express directory buckets) answers with session
    /// credentials — an access key, a secret and a token — of whoever signed it: osp's backend
    /// identity. Passed on, they would let the client reach the bucket without osp, with the
    /// backend's rights. Refused on any request that names the parameter (with other parameters
    /// too, the backend could still read it as CreateSession), whatever the policy says: no backend
    /// secret ever reaches a client. Directory buckets are reached through osp with its own keys.
    static let createSession = S3Error(
        .notImplemented,
        "This gateway does not pass on CreateSession: its answer holds the backend's session credentials. Sign requests with the keys this gateway issued you."
    )

    /// `x-amz-rename-source` (RenameObject, S3 Express) names an object the request moves; osp
    /// does not support the operation and authorizes no such source.
    static let renameSource = S3Error(
        .notImplemented,
        "This gateway does not support RenameObject: x-amz-rename-source names an object it cannot authorize."
    )

    static let dotSegment = S3Error(
        .invalidArgument,
        "Object keys with a '.' or '..' path segment are not accepted by this gateway."
    )

    /// The bucket named by the Host header, when the host is `<bucket>.<configured domain>`.
    private func virtualHostBucket(host: String?) -> (bucket: String, domain: String)? {
        guard let host, !dottedDomains.isEmpty else { return nil }
        var name = Substring(host)
        if name.first == "[" {
            return nil  // an IPv6 literal is never a virtual host
        }
        if let colon = name.firstIndex(of: ":") {
            name = name[..<colon]
        }
        while name.last == "." { name = name.dropLast() }
        let lowered = name.lowercased()
        for (index, dotted) in dottedDomains.enumerated()
        where lowered.utf8.count > dotted.utf8.count && lowered.hasSuffix(dotted) {
            return (String(lowered.dropLast(dotted.count)), virtualHostDomains[index])
        }
        return nil
    }

    /// Headers some servers and frameworks take as the request's real method or path. osp
    /// authorizes the method and path of the request line and passes other headers on unchanged,
    /// so a backend (or a proxy in front of it) honouring one of these would run another operation,
    /// or reach another key, than the one authorized: a GET with `X-HTTP-Method-Override: DELETE`.
    static let overridingHeaders = [
        "x-http-method-override", "x-http-method", "x-method-override", "x-original-url", "x-rewrite-url",
    ]

    /// A backend's own extension, named by a header (or a query parameter of that name, where SDKs
    /// hoist headers when presigning), which makes the backend do more than the S3 operation osp
    /// authorized, under osp's backend key: MinIO's `x-minio-*` (`x-minio-force-delete` empties a
    /// bucket it deletes, `x-minio-extract` reads inside an archive, replication headers set
    /// versions and times) and its Snowball auto-extract (`x-amz-meta-snowball-auto-extract` and
    /// `x-amz-meta-minio-snowball-*`: a PUT tar archive unpacked into objects at the keys its
    /// entries name, wherever they are). Refused, 501.
    package static func isBackendExtension(_ name: Substring) -> Bool {
        name.hasLowercaseASCIIPrefix("x-minio-") || name.hasLowercaseASCIIPrefix("x-amz-meta-minio-snowball-")
            || name.equalsLowercaseASCII("x-amz-meta-snowball-auto-extract")
    }

    static func backendExtension(_ name: String) -> S3Error {
        S3Error(.notImplemented, "This gateway does not pass on \(name): it asks the backend for more than this gateway can authorize.")
    }

    /// The one `Host` header a request is routed by (nil when there is none). More than one is refused,
    /// as RFC 9112 §3.2 requires: which of them names a virtual-host bucket would otherwise depend on
    /// who reads them (osp, a load balancer, a log).
    public static func host(of headers: HTTPHeaders) throws(S3Error) -> String? {
        var host: String?
        for (name, value) in headers where name.equalsLowercaseASCII("host") {
            guard host == nil else {
                throw S3Error(.invalidRequest, "The request has more than one Host header.")
            }
            host = value
        }
        return host
    }

    private static let invalidBucketName = S3Error(.invalidBucketName, "The specified bucket is not valid.")
}
