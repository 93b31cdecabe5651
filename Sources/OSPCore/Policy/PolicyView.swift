import NIOHTTP1
import S3Signing

/// What a policy may see of one authenticated request: the parts its questions, conditions and
/// decision-cache key are made of, read from the request once. The question a remote engine is
/// asked and the key its cached answer is found by are written from this value alone — a key
/// written from other parts than the question could let an answer speak for a request it was not
/// given for.
///
/// Because nothing else goes into a question, **two equal views ask the same question** (given the
/// same `Authorizer`: its header allow-list picked `allowedHeaders`). A connection's remembered
/// allow (`RememberedAllow`) is therefore matched by comparing views, field by field, without
/// writing the key: most fields are a handful of bytes or the very string the last request held
/// (the principal from the keystore, the operation's action), so the comparison is a few word
/// compares where writing the key appended some twenty length-prefixed fields.
///
/// It holds what a policy reads, not the values it is read from (the request head with its
/// `Authorization`, the identity with its secret key, the parsed credentials): those change with
/// every signature, so a view holding them would never equal the last one, and a secret must not
/// be kept where a question is.
struct PolicyView: Equatable {
    var route: S3Route
    /// The identity policy decisions are made for (MinIO's `account`).
    var principal: String
    var groups: [String]
    var method: HTTPMethod
    /// The request path as sent (never decoded).
    var rawPath: String
    /// The query without the client's credentials: what a policy backend sees and what the backend
    /// request carries, so the caller usually has it already.
    var forwardedQuery: String
    /// MinIO's `UserAgent` condition.
    var userAgent: String?
    /// The allow-listed headers the request carries, in the allow-list's (name) order, repeated
    /// ones joined with `,`: what a policy sees in `request.headers`.
    var allowedHeaders: [AllowedHeader]
    /// MinIO's `authType` condition: how the credentials were sent (`ClientAuthentication.authType`).
    var authType: String
    /// MinIO's `signatureversion` condition (`ClientAuthentication.signatureVersion`).
    var signatureVersion: String
    /// The client's address (MinIO's `SourceIp`), when known.
    var sourceIP: String?
    /// Whether the client connection is TLS (`SecureTransport`).
    var secureTransport: Bool
    /// The principal named by a verified client certificate, when one is bound.
    var tlsClientPrincipal: String?

    struct AllowedHeader: Equatable {
        var name: String
        var value: String
    }

    /// - Parameters:
    ///   - headerAllowList: the `Authorizer`'s (lower case, sorted, each once); `Authorizer.view`
    ///     passes it.
    ///   - forwardedQuery: the credential-free query when the caller has it; computed otherwise.
    init(
        route: S3Route,
        identity: ClientIdentity,
        head: HTTPRequestHead,
        target: RequestTarget,
        authentication: ClientAuthentication,
        headerAllowList: [String],
        sourceIP: String?,
        secureTransport: Bool,
        tlsClientPrincipal: String? = nil,
        forwardedQuery: String? = nil
    ) {
        self.route = route
        self.principal = identity.principal
        self.groups = identity.groups
        self.method = head.method
        self.rawPath = target.rawPath
        self.forwardedQuery = forwardedQuery ?? target.queryWithoutCredentials(of: authentication)
        self.userAgent = head.headers.first(name: "user-agent")
        self.allowedHeaders = []
        for name in headerAllowList {
            let values = head.headers[name]
            if !values.isEmpty { self.allowedHeaders.append(AllowedHeader(name: name, value: values.joined(separator: ","))) }
        }
        self.authType = authentication.authType
        self.signatureVersion = authentication.signatureVersion
        self.sourceIP = sourceIP
        self.secureTransport = secureTransport
        self.tlsClientPrincipal = tlsClientPrincipal
    }
}
