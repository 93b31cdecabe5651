import NIOHTTP1
import S3Signing
import Tracing

/// The spans of one S3 request: a server span per exchange (`S3 <Operation>`) and, under it, one
/// span per pipeline stage that ran — `authenticate`, `authorize`, `credentials`, `upstream`
/// (connect and response head).
///
/// Only built when a real tracer is installed (`Gateway.tracer` non-nil): with tracing off the
/// handler holds `nil` and the hot path pays one optional check per stage, nothing else.
///
/// What goes into attributes is chosen for safety: method, S3 operation and action, bucket, status
/// codes, osp's request id, the policy backend and whether it was asked or its cache answered.
/// Never the object key (keys can carry names users consider private), never a header value, a
/// query string (presigned signatures), a secret or the principal.
///
/// Confined to the client connection's event loop, like the exchange that owns it.
struct RequestTrace {
    let tracer: any Tracer
    let root: any Span
    /// The stage span still open, ended when its stage completes or, at the latest, with the request.
    private var stage: (any Span)?

    /// Starts the request's server span, continuing the client's trace when its headers carry one
    /// (W3C `traceparent`/`tracestate` with an OpenTelemetry tracer: whatever the tracer's
    /// propagator reads).
    init(tracer: any Tracer, head: HTTPRequestHead, route: S3Route?, requestID: String) {
        var context = ServiceContext.topLevel
        tracer.extract(head.headers, into: &context, using: HTTPHeadersExtractor())
        let name = route.map { "S3 " + $0.operation.name } ?? "S3"
        let root = tracer.startSpan(name, context: context, ofKind: .server)
        if root.isRecording {
            var attributes: SpanAttributes = [:]
            attributes["http.request.method"] = head.method.rawValue
            attributes["rpc.system"] = "aws-api"
            attributes["rpc.service"] = "S3"
            attributes["osp.request_id"] = requestID
            if let route {
                attributes["rpc.method"] = route.operation.name
                attributes["osp.s3.action"] = route.operation.action
                if let bucket = route.bucket { attributes["aws.s3.bucket"] = bucket }
            }
            root.attributes = attributes
        }
        self.tracer = tracer
        self.root = root
    }

    /// Opens the span of a pipeline stage under the request's span (ending a stage left open).
    mutating func begin(_ stage: Stage) {
        self.stage?.end()
        self.stage = self.tracer.startSpan(stage.rawValue, context: self.root.context, ofKind: stage.kind)
    }

    /// Sets attributes on the open stage span, if it records.
    func annotate(_ update: (inout SpanAttributes) -> Void) {
        guard let stage = self.stage, stage.isRecording else { return }
        stage.updateAttributes(update)
    }

    /// Ends the open stage span; `error` (an S3 error code or a short fixed phrase) marks it failed.
    mutating func end(error: String? = nil) {
        guard let stage = self.stage else { return }
        self.stage = nil
        if let error {
            stage.attributes["error.type"] = error
            stage.setStatus(SpanStatus(code: .error))
        }
        stage.end()
    }

    /// The authorize span's attributes: which policy backend, and who answered — `local` (an
    /// in-memory engine), `cache` (remembered answers) or `callout` (the backend was asked, or a
    /// call already in flight for the same question was joined).
    func annotate(policy backend: String, answeredBy source: String) {
        self.annotate {
            $0["osp.policy.backend"] = backend
            $0["osp.policy.answered_by"] = source
        }
    }

    /// Ends the open stage with the outcome of its future: failed with the S3 error code it refuses with.
    mutating func end<Value>(_ result: Result<Value, any Error>) {
        switch result {
        case .success: self.end()
        case .failure(let error): self.end(error: (error as? S3Error)?.code.rawValue ?? "InternalError")
        }
    }

    /// The headers that carry the open stage's span to a service it calls (OPA, IBM IAM): the
    /// callout becomes a child of that stage in the same trace.
    func calloutHeaders() -> CalloutTraceHeaders {
        var headers = CalloutTraceHeaders()
        self.tracer.inject((self.stage ?? self.root).context, into: &headers.fields, using: HeaderPairsInjector())
        return headers
    }

    /// Replaces any trace context the client sent with the open stage's (the `upstream` span), so
    /// the backend's own spans, if it traces, sit under osp's instead of skipping it. The headers are
    /// not signed (`SigV4Signer` signs only host, `content-*` and `x-amz-*`), so this is safe after signing.
    func propagate(into headers: inout HTTPHeaders) {
        headers.remove(name: "traceparent")
        headers.remove(name: "tracestate")
        self.tracer.inject((self.stage ?? self.root).context, into: &headers, using: HTTPHeadersInjector())
    }

    /// Ends the request's span (and a stage left open, when the client went away mid-stage) with
    /// the status the client got; `errorCode` is osp's own S3 error code when it refused.
    mutating func finish(status: Int, errorCode: String?) {
        self.end(error: self.stage == nil ? nil : "aborted")
        if self.root.isRecording {
            if status > 0 { self.root.attributes["http.response.status_code"] = status }
            if let errorCode { self.root.attributes["error.type"] = errorCode }
            // A server span fails on 5xx only: a 4xx is the client's error, not the gateway's.
            if status >= 500 || status == 0 { self.root.setStatus(SpanStatus(code: .error)) }
        }
        self.root.end()
    }

    /// The pipeline stages that get a span.
    enum Stage: String {
        case authenticate
        case authorize
        case credentials
        case upstream

        var kind: SpanKind {
            switch self {
            case .upstream: return .client
            case .authenticate, .authorize, .credentials: return .internal
            }
        }
    }
}

extension Gateway {
    /// The tracer installed with `InstrumentationSystem.bootstrap`, or nil when there is none (the
    /// no-op tracer): then no span is ever built.
    public static var bootstrappedTracer: (any Tracer)? {
        let tracer = InstrumentationSystem.tracer
        return tracer is NoOpTracer ? nil : tracer
    }
}

/// Trace context headers for a callout (W3C `traceparent`, `tracestate` with an OpenTelemetry
/// tracer), computed on the event loop and handed to the thread that makes the call.
public struct CalloutTraceHeaders: Sendable {
    public var fields: [(String, String)]

    public init(fields: [(String, String)] = []) {
        self.fields = fields
    }

    /// No trace context: tracing is off, or the caller is not inside a traced request.
    public static let none = CalloutTraceHeaders()
}

/// Reads trace context from a request's headers.
struct HTTPHeadersExtractor: Extractor {
    func extract(key: String, from carrier: HTTPHeaders) -> String? {
        carrier.first(name: key)
    }
}

/// Writes trace context into a request's headers.
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}

/// Writes trace context into a callout's header list.
struct HeaderPairsInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [(String, String)]) {
        carrier.removeAll { $0.0.lowercased() == key.lowercased() }
        carrier.append((key, value))
    }
}

extension AuthorizationVerdict {
    /// The verdict as a span attribute value.
    var label: String {
        switch self {
        case .allow: return "allow"
        case .deny: return "deny"
        case .unavailable: return "unavailable"
        }
    }
}
