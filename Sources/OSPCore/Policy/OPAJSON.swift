import Foundation

/// A JSON value as exchanged with an OPA-compatible service. Typed (rather than `Any` from
/// `JSONSerialization`) so that `true` and `1` stay different things: a policy answering `1` is
/// malformed, not an allow.
enum OPAJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([OPAJSON])
    case object([String: OPAJSON])

    /// Compact JSON with sorted keys, so the same question always produces the same bytes.
    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a tree of strings, numbers and containers cannot fail.
        return (try? Array(encoder.encode(self))) ?? Array("null".utf8)
    }

    /// `nil` when `bytes` is not one JSON value.
    static func decode(_ bytes: [UInt8]) -> OPAJSON? {
        try? JSONDecoder().decode(OPAJSON.self, from: Data(bytes))
    }
}

extension OPAJSON: Codable {
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([OPAJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: OPAJSON].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
