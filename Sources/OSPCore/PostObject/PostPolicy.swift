import S3Signing

/// A POST policy: what the signer of a browser form allows that form to hold — until when, into
/// which bucket, under which key, with which other fields and how large a file. The signature
/// covers the policy, not the form, so a form is only as trustworthy as its check against it;
/// osp checks exactly as S3 does, and fails closed on anything it does not understand.
package struct PostPolicy: Sendable, Equatable {
    package enum Condition: Sendable, Equatable {
        /// `{"field": "value"}` or `["eq", "$field", "value"]` (field in lower case).
        case equals(field: String, value: String)
        /// `["starts-with", "$field", "prefix"]`; an empty prefix allows any value.
        case startsWith(field: String, prefix: String)
        /// `["content-length-range", min, max]`: the file's size in bytes, inclusive.
        case contentLengthRange(min: Int64, max: Int64)

        var field: String? {
            switch self {
            case .equals(let field, _), .startsWith(let field, _): return field
            case .contentLengthRange: return nil
            }
        }
    }

    package var expiration: AmzDate
    package var conditions: [Condition]

    /// The file sizes the signer allows: every `content-length-range` holds, so their intersection
    /// (empty, `min > max`, when they do not overlap). osp counts the file against it and passes it on
    /// to the backend, which counts too.
    var contentLengthRange: (min: Int64, max: Int64)? {
        var range: (min: Int64, max: Int64)?
        for case .contentLengthRange(let min, let max) in self.conditions {
            range = range.map { (Swift.max($0.min, min), Swift.min($0.max, max)) } ?? (min, max)
        }
        return range
    }

    /// Fields a form may carry without a condition of their own (S3's rule; `awsaccesskeyid`
    /// for SigV2 forms, whose SDKs never list it).
    static let unconditionedFields: Set<String> = ["policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"]

    package init(expiration: AmzDate, conditions: [Condition]) {
        self.expiration = expiration
        self.conditions = conditions
    }

    /// Decodes the `policy` field: base64 of `{"expiration": "…Z", "conditions": [ … ]}`.
    package init(base64 text: String) throws(S3Error) {
        let invalid = { (why: String) in S3Error(.invalidPolicyDocument, "Invalid Policy: \(why)") }
        guard let bytes = Base64.decode(text) else { throw invalid("the policy is not base64.") }
        guard case .object(let document)? = OPAJSON.decode(bytes) else { throw invalid("the policy is not a JSON object.") }
        guard case .string(let expirationText)? = document["expiration"], let expiration = Self.date(expirationText) else {
            throw invalid("Policy missing expiration or it is not an ISO 8601 UTC time.")
        }
        guard case .array(let list)? = document["conditions"] else { throw invalid("Policy missing conditions.") }
        var conditions: [Condition] = []
        for item in list {
            conditions.append(try Self.condition(item))
        }
        self.init(expiration: expiration, conditions: conditions)
    }

    private static func condition(_ item: OPAJSON) throws(S3Error) -> Condition {
        let invalid = S3Error(.invalidPolicyDocument, "Invalid Policy: Invalid Condition: \(item.text)")
        switch item {
        case .object(let pairs):
            guard pairs.count == 1, let (name, value) = pairs.first, case .string(let text) = value else { throw invalid }
            return .equals(field: name.lowercased(), value: text)
        case .array(let parts):
            guard case .string(let operation)? = parts.first else { throw invalid }
            switch operation.lowercased() {
            case "eq", "starts-with":
                guard parts.count == 3, case .string(let reference) = parts[1], reference.hasPrefix("$"),
                    case .string(let value) = parts[2]
                else { throw invalid }
                let field = String(reference.dropFirst()).lowercased()
                return operation.lowercased() == "eq" ? .equals(field: field, value: value) : .startsWith(field: field, prefix: value)
            case "content-length-range":
                guard parts.count == 3, let min = Self.integer(parts[1]), let max = Self.integer(parts[2]), min >= 0, min <= max else {
                    throw invalid
                }
                return .contentLengthRange(min: min, max: max)
            default:
                throw invalid
            }
        default:
            throw invalid
        }
    }

    private static func integer(_ value: OPAJSON) -> Int64? {
        switch value {
        case .int(let number): return number
        case .string(let text): return Int64(text)
        default: return nil
        }
    }

    /// `2026-12-01T17:00:00Z` or `2026-12-01T17:00:00.000Z` (any fraction of a second).
    static func date(_ text: String) -> AmzDate? {
        var utf8 = Array(text.utf8)
        guard utf8.count >= 20, utf8.last == UInt8(ascii: "Z"), utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"),
            utf8[10] == UInt8(ascii: "T"), utf8[13] == UInt8(ascii: ":"), utf8[16] == UInt8(ascii: ":")
        else { return nil }
        if utf8.count > 20 {
            guard utf8[19] == UInt8(ascii: "."), utf8.count > 21,
                utf8[20..<(utf8.count - 1)].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            else { return nil }
            utf8 = Array(utf8[..<19]) + [UInt8(ascii: "Z")]
        }
        let basic = utf8.filter { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: ":") }
        return AmzDate(iso8601Basic: String(decoding: basic, as: UTF8.self))
    }

    /// `2026-12-01T17:00:00Z`: how a policy's expiration is written (`date` reads it back).
    static func iso8601(_ date: AmzDate) -> String {
        let basic = Array(date.amzDate.utf8)  // 20261201T170000Z
        var out = Array(basic[0..<4]) + [UInt8(ascii: "-")] + Array(basic[4..<6]) + [UInt8(ascii: "-")] + Array(basic[6..<8])
        out += [UInt8(ascii: "T")] + Array(basic[9..<11]) + [UInt8(ascii: ":")] + Array(basic[11..<13]) + [UInt8(ascii: ":")]
        out += Array(basic[13..<15]) + [UInt8(ascii: "Z")]
        return String(decoding: out, as: UTF8.self)
    }

    /// Holds the form to the policy, as S3 does: not expired; every condition met by the form
    /// (`bucket` by the bucket the form was posted to); every field but the signature's own
    /// covered by some condition.
    package func check(_ form: PostObjectForm, bucket: String, now: AmzDate) throws(S3Error) {
        guard now < self.expiration else {
            throw S3Error(.accessDenied, "Invalid according to Policy: Policy expired.")
        }
        for condition in self.conditions {
            guard let field = condition.field else { continue }
            let value = field == "bucket" ? bucket : form.value(of: field)
            let met: Bool
            switch condition {
            case .equals(_, let expected): met = value == expected
            case .startsWith(_, let prefix): met = value.map { $0.hasPrefix(prefix) } ?? false
            case .contentLengthRange: met = true
            }
            guard met else {
                throw S3Error(.accessDenied, "Invalid according to Policy: Policy Condition failed: \(condition.text)")
            }
        }
        let covered = Set(self.conditions.compactMap(\.field))
        for field in form.fields {
            let name = field.lowercasedName
            if Self.unconditionedFields.contains(name) || name.hasPrefix("x-ignore-") || covered.contains(name) { continue }
            throw S3Error(.accessDenied, "Invalid according to Policy: Extra input fields: \(field.name)")
        }
    }
}

extension PostPolicy.Condition {
    /// As S3 quotes a failed condition: `["eq", "$key", "a/b"]`.
    var text: String {
        switch self {
        case .equals(let field, let value): return OPAJSON.array([.string("eq"), .string("$" + field), .string(value)]).text
        case .startsWith(let field, let prefix): return OPAJSON.array([.string("starts-with"), .string("$" + field), .string(prefix)]).text
        case .contentLengthRange(let min, let max): return OPAJSON.array([.string("content-length-range"), .int(min), .int(max)]).text
        }
    }
}

extension OPAJSON {
    /// Compact JSON text.
    var text: String { String(decoding: self.encoded(), as: UTF8.self) }
}
