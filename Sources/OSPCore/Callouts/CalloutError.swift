/// Why a callout produced no usable answer. The kinds stay apart so logs and metrics can tell a slow
/// service from an unreachable one from one that answers nonsense. Details name hosts, statuses and
/// libcurl's reason, never a header value or a body (either may hold a token or a secret).
public struct CalloutError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The request's deadline passed (connecting, waiting or reading).
        case timeout
        /// No HTTP answer: refused, reset, DNS, TLS, or the callout thread pool is shut down.
        case transport
        /// An answer with a status the caller does not accept (see `CalloutResponse.requireSuccess`).
        case httpStatus
        /// The answer was larger than `CalloutSettings.maxResponseBytes`.
        case responseTooLarge
        /// osp refused to send the request (bad URL or header); nothing went on the wire.
        case invalidRequest
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "\(kind.rawValue): \(detail)" }
}

extension CalloutError.Kind {
    /// The kind as a metric label (snake case, like the other labels).
    var metricLabel: String {
        switch self {
        case .timeout: return "timeout"
        case .transport: return "transport"
        case .httpStatus: return "http_status"
        case .responseTooLarge: return "response_too_large"
        case .invalidRequest: return "invalid_request"
        }
    }
}
