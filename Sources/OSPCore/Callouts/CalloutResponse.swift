/// What a callout endpoint answered: any HTTP status (redirects are not followed) and the body, which
/// is at most `CalloutSettings.maxResponseBytes` long. Callers decide which statuses they accept.
public struct CalloutResponse: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]
    /// Whether the request went over a kept-alive connection rather than a new one.
    public var reusedConnection: Bool

    public init(status: Int, body: [UInt8], reusedConnection: Bool = false) {
        self.status = status
        self.body = body
        self.reusedConnection = reusedConnection
    }

    public var isSuccess: Bool { (200..<300).contains(status) }

    /// `self` when the status is 2xx, otherwise an `httpStatus` error naming only the status (the body
    /// may echo secrets and is never put into an error).
    public func requireSuccess() throws(CalloutError) -> CalloutResponse {
        guard isSuccess else {
            throw CalloutError(.httpStatus, "HTTP status \(status)")
        }
        return self
    }
}
