import S3Signing
import NIOCore
import NIOPosix

/// The `opa` decision backend: asks an OPA-compatible HTTP service (OPA itself, or anything answering
/// its Data API) through libcurl on a thread pool. `POST {url}` with `{"input": ...}` (see `OPAInput`);
/// the answer is read by `OPAResult`. A service that is down, slow or answers garbage fails the
/// future with a `PolicyBackendError` of a distinct kind (→ 503); it never turns into an allow.
public struct OPAPolicy: PolicyEngine {
    public var name: String { "opa" }
    public let settings: OPASettings
    private let client: CurlHTTPClient

    public init(settings: OPASettings, client: CurlHTTPClient) {
        self.settings = settings
        self.client = client
    }

    /// A policy with its own `CurlHTTPClient` on `threadPool` (which the caller starts and stops).
    public init(settings: OPASettings, threadPool: NIOThreadPool) {
        self.init(settings: settings, client: CurlHTTPClient(threadPool: threadPool, settings: settings.calloutSettings))
    }

    public func decide(_ request: AuthorizationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        self.decide(request, trace: .none, on: eventLoop)
    }

    /// The decision, asked with the request's trace context (`traceparent`) so the policy
    /// service's own spans join osp's trace under the `authorize` span.
    public func decide(_ request: AuthorizationRequest, trace: CalloutTraceHeaders, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        let body = OPAInput.requestBody(for: request, headerAllowList: settings.headers, now: AmzDate.now())
        var headers = [("Content-Type", "application/json"), ("Accept", "application/json")] + trace.fields
        if let token = settings.bearerToken {
            headers.append(("Authorization", "Bearer \(token)"))
        }
        return client.post(
            url: settings.url,
            body: body,
            headers: headers,
            timeout: .milliseconds(Int64(settings.timeoutMilliseconds)),
            on: eventLoop
        )
        .flatMapErrorThrowing { error in
            throw Self.backendError(for: error)
        }
        .flatMapThrowing { response in
            guard response.isSuccess else {
                throw PolicyBackendError(kind: .httpStatus, detail: "the policy service answered HTTP \(response.status)")
            }
            return try OPAResult.decision(from: response.body, for: request)
        }
    }

    static func backendError(for error: any Error) -> PolicyBackendError {
        guard let error = error as? CalloutError else {
            return PolicyBackendError(kind: .transport, detail: "\(type(of: error))")
        }
        switch error.kind {
        case .timeout:
            return PolicyBackendError(kind: .timeout, detail: error.detail)
        case .transport, .invalidRequest:
            return PolicyBackendError(kind: .transport, detail: error.detail)
        case .httpStatus:
            return PolicyBackendError(kind: .httpStatus, detail: error.detail)
        case .responseTooLarge:
            return PolicyBackendError(kind: .malformedResult, detail: error.detail)
        }
    }
}
