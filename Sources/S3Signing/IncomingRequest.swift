import NIOHTTP1

/// A client request as the verifier needs to see it: the request target exactly as it came on the
/// request line (never decoded or normalised — the signature covers those bytes) and the headers.
public struct IncomingRequest: Sendable {
    public var method: String
    /// The path part of the request target, before `?`, still percent-encoded as the client sent it.
    public var rawPath: String
    /// Everything after the first `?`, or "" when there is none.
    public var rawQuery: String
    public var headers: HTTPHeaders

    public init(method: String, rawPath: String, rawQuery: String, headers: HTTPHeaders) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
    }

    /// Splits a request-line target (`/bucket/key?query`) into path and query.
    public init(method: String, target: String, headers: HTTPHeaders) {
        if let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            self.init(
                method: method,
                rawPath: String(target[..<question]),
                rawQuery: String(target[target.index(after: question)...]),
                headers: headers)
        } else {
            self.init(method: method, rawPath: target, rawQuery: "", headers: headers)
        }
    }
}
