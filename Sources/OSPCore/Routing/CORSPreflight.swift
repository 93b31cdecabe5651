import NIOHTTP1
import S3Signing

/// What osp does with a browser's CORS preflight (`server.cors_preflight`).
///
/// Before a web page may `PUT` to a presigned URL (or send any request with a non-simple header),
/// the browser asks `OPTIONS` with `Origin` and `Access-Control-Request-Method` — never with
/// credentials, so osp cannot authenticate it. S3 answers preflights from the bucket's CORS
/// configuration without asking who is there. osp refuses them unless told otherwise, because
/// forwarding one means a request nobody signed causes a backend request.
public enum CORSPreflightHandling: String, Sendable, Equatable, CaseIterable {
    /// 403 `AccessForbidden` from osp; the backend hears nothing (the default).
    case refuse
    /// Forwarded to the bucket's backend — stripped to the preflight's own headers, signed with the
    /// bucket's backend key — and answered from the bucket's CORS configuration (set through osp
    /// with `PutBucketCors` like any other bucket setting). A preflight reads nothing but that
    /// configuration and changes nothing, and the policy is not asked: there is no principal.
    case forward
}

/// A request's standing as a CORS preflight: the checks that make an `OPTIONS` request safe to
/// forward unauthenticated, so that only the question a browser asks reaches the backend.
enum CORSPreflight: Equatable {
    /// Not a preflight: it carries credentials (a signed `OPTIONS` is authenticated like any other
    /// request), or it is not an `OPTIONS` request at all.
    case notPreflight
    /// A preflight osp may forward: these are the only client headers the backend gets (its
    /// `Origin` and `Access-Control-Request-*`, and `Content-Length: 0`).
    case preflight(HTTPHeaders)
    /// A preflight osp answers itself, with this error.
    case refused(S3Error)

    /// The headers of a preflight that are forwarded: what the backend's CORS rules match on.
    static let forwardedHeaders = ["origin", "access-control-request-method", "access-control-request-headers"]

    static let notEnabled = S3Error(.accessForbidden, "CORSResponse: CORS preflight requests are not enabled on this endpoint.")

    init(operation: S3Operation, bucket: String?, head: HTTPRequestHead, rawQuery: String, handling: CORSPreflightHandling) {
        guard operation == .preflightRequest else {
            self = .notPreflight
            return
        }
        // Anything that looks like credentials (even malformed ones) goes to authentication,
        // which answers it; only a request with none is a preflight.
        guard case .anonymous? = try? ClientAuthentication.parse(headers: head.headers, rawQuery: rawQuery) else {
            self = .notPreflight
            return
        }
        guard handling == .forward else {
            self = .refused(Self.notEnabled)
            return
        }
        let origin = head.headers["origin"]
        guard origin.count == 1, !origin[0].isEmpty else {
            self = .refused(S3Error(.badRequest, "Insufficient information. Origin request header needed."))
            return
        }
        let method = head.headers["access-control-request-method"]
        guard method.count == 1, !method[0].isEmpty else {
            self = .refused(S3Error(.badRequest, "A CORS preflight needs exactly one Access-Control-Request-Method header."))
            return
        }
        // A preflight has no body: one that does is not a browser's, and its bytes would reach
        // the backend unauthenticated.
        let length = head.headers["content-length"]
        guard !head.headers.contains(name: "transfer-encoding"), length.isEmpty || length == ["0"] else {
            self = .refused(S3Error(.invalidRequest, "A CORS preflight has no body."))
            return
        }
        guard bucket != nil else {
            self = .refused(S3Error(.badRequest, "A CORS preflight is answered for a bucket or an object, not for the service."))
            return
        }
        var forwarded = HTTPHeaders()
        for name in Self.forwardedHeaders {
            for value in head.headers[name] { forwarded.add(name: name, value: value) }
        }
        // Framed as bodyless, so that nothing after the head can be taken for a body.
        forwarded.add(name: "content-length", value: "0")
        self = .preflight(forwarded)
    }
}
