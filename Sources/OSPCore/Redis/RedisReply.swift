/// One Redis reply as osp reads it: the RESP2 types hiredis hands back, copied out of hiredis'
/// memory so the value can leave the pool thread. Bulk strings are decoded as UTF-8 (osp's schema
/// stores text only; invalid bytes become U+FFFD).
public enum RedisReply: Sendable, Equatable {
    /// A bulk string (`GET`, `HGET`, elements of `HGETALL`/`MGET`).
    case string(String)
    case integer(Int64)
    case array([RedisReply])
    /// A missing key (`GET` of nothing, a nil element of `MGET`).
    case null
    /// A simple status such as `OK` or `PONG`.
    case status(String)
    /// An error reply. A top-level one fails the command with `RedisError.Kind.server`; this case
    /// only appears nested (inside an array, e.g. the answers of `EXEC`).
    case error(String)

    /// The text of a bulk string or status, nil otherwise.
    public var text: String? {
        switch self {
        case .string(let text), .status(let text): return text
        default: return nil
        }
    }

    /// `HGETALL`'s flat field/value array as a dictionary; nil when the reply is not such an array.
    /// An absent key answers an empty array, hence an empty dictionary.
    public var hashFields: [String: String]? {
        guard case .array(let elements) = self, elements.count % 2 == 0 else { return nil }
        var fields: [String: String] = [:]
        fields.reserveCapacity(elements.count / 2)
        var index = 0
        while index < elements.count {
            guard case .string(let field) = elements[index], case .string(let value) = elements[index + 1] else {
                return nil
            }
            fields[field] = value
            index += 2
        }
        return fields
    }
}
