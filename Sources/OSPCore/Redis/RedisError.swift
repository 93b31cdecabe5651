/// Why a Redis command produced no usable reply. The kinds let callers map failures the way osp's
/// seams need them (a policy backend's `timeout` vs `transport`, a secret store's 503) and let logs
/// tell a dead server from a slow one. Details never contain a password or a command's arguments.
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Could not connect, authenticate or select the database; the connection broke; or the
        /// client's thread pool is not running.
        case connection
        /// The server did not answer within the configured time (connecting included).
        case timeout
        /// The reply could not be parsed, or had a type the caller did not expect.
        case `protocol`
        /// The server answered with an error reply (`ERR`, `WRONGTYPE`, `NOAUTH`, …).
        case server
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "RedisError(\(kind.rawValue): \(detail))" }
}
