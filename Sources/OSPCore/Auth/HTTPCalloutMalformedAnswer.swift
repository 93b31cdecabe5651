/// A secret or credential service answered 2xx with something osp cannot use (not JSON, a wrong
/// type, an empty secret). Kept apart from `CalloutError` so logs tell "the service is broken" from
/// "the service is unreachable". The detail names fields, never their values.
struct MalformedCalloutAnswer: Error, Sendable, Equatable, CustomStringConvertible {
    var detail: String

    init(_ detail: String) {
        self.detail = detail
    }

    var description: String { "malformedAnswer: \(detail)" }
}

/// How a failed callout is named in a log line: its kind and detail, never a body or a header.
func calloutFailureReason(_ error: any Error) -> String {
    switch error {
    case let error as CalloutError: return error.description
    case let error as MalformedCalloutAnswer: return error.description
    default: return "\(type(of: error))"
    }
}
