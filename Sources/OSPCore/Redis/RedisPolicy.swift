import Foundation
import NIOCore

/// The `redis` decision backend: grants stored in Redis, evaluated in process by the same `RuleSet`
/// as the config file's `rules` — "fine-grained permissions on any prefix, with exceptions", editable
/// without restarting osp.
///
/// For a request by principal `p` in groups `g1, g2`, one `MGET P grants:p P grants:group:g1
/// P grants:group:g2` fetches JSON lists of grants (`Grant`'s JSON form; an absent key is an empty
/// list). In a list, `principals` may be omitted: it then means the list's owner (`p`, or
/// `group:g1`). When given, it may only name the owner or `"*"` — a grant stored under one
/// principal that names another would silently match nothing, and a silent no-op deny is exactly
/// the exception that must not get lost.
///
/// Fail closed: a list that is not valid JSON, a grant that does not decode or validate, a key of
/// the wrong type → `PolicyBackendError(.malformedResult)`; Redis slow → `.timeout`; down → `.transport`
/// (all 503, never forwarded). The compiled grants of one (principal, groups) are kept for
/// `grants_ttl_seconds` in a `ShardedTTLCache`, so a burst of requests costs one `MGET`; an edit in
/// Redis is seen after at most that long.
public struct RedisPolicy: PolicyEngine {
    public var name: String { "redis" }
    public let client: RedisClient
    public let schema: RedisKeySchema
    private let grants: ShardedTTLCache<GrantOwners, RuleSet>
    private let ttl: TimeAmount

    public init(client: RedisClient, capacity: Int = 10_000, clock: CacheClock = .system) {
        self.client = client
        self.schema = client.settings.schema
        self.grants = ShardedTTLCache(name: "redis-grants", capacity: capacity, clock: clock)
        self.ttl = .seconds(Int64(client.settings.grantsTTLSeconds))
    }

    public func decide(_ request: AuthorizationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        let owners = GrantOwners(principal: request.principal, groups: request.groups)
        return grants.value(forKey: owners, on: eventLoop, ttl: ttl) { [self] in
            self.load(owners, on: eventLoop)
        }.map { rules in
            rules.evaluate(request)
        }
    }

    /// Drops the cached grants (all principals), e.g. after an administrative change.
    public func invalidateCachedGrants() {
        grants.removeAll()
    }

    private func load(_ owners: GrantOwners, on eventLoop: any EventLoop) -> EventLoopFuture<RuleSet> {
        let names = [owners.principal] + owners.groups.map { Grant.groupMarker + $0 }
        let keys = [schema.grants(principal: owners.principal)] + owners.groups.map { schema.grants(group: $0) }
        return client.command(["MGET"] + keys, idempotent: true, on: eventLoop)
            .flatMapErrorThrowing { error in
                throw Self.backendError(for: error)
            }
            .flatMapThrowing { reply in
                guard case .array(let values) = reply, values.count == keys.count else {
                    throw PolicyBackendError(kind: .malformedResult, detail: "MGET answered \(reply.kindName)")
                }
                var all: [Grant] = []
                for (index, value) in values.enumerated() {
                    switch value {
                    case .null:
                        continue
                    case .string(let json):
                        all += try Self.grants(fromJSON: json, owner: names[index], key: keys[index])
                    default:
                        throw PolicyBackendError(kind: .malformedResult, detail: "\(keys[index]): expected a string, found \(value.kindName)")
                    }
                }
                return RuleSet(all)
            }
    }

    /// Decodes one stored list. `owner` is `alice` or `group:team`.
    static func grants(fromJSON json: String, owner: String, key: String) throws(PolicyBackendError) -> [Grant] {
        func malformed(_ detail: String) -> PolicyBackendError {
            PolicyBackendError(kind: .malformedResult, detail: "\(key): \(detail)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)), let list = object as? [Any] else {
            throw malformed("not a JSON list of grants")
        }
        var grants: [Grant] = []
        grants.reserveCapacity(list.count)
        for (index, element) in list.enumerated() {
            guard var fields = element as? [String: Any] else {
                throw malformed("[\(index)] is not a JSON object")
            }
            if fields["principals"] == nil && fields["principal"] == nil {
                fields["principals"] = [owner]
            }
            let grant: Grant
            do {
                let data = try JSONSerialization.data(withJSONObject: fields)
                grant = try JSONDecoder().decode(Grant.self, from: data)
                try grant.validate()
            } catch let error as GrantValidationError {
                throw malformed("[\(index)]: \(error)")
            } catch let error as DecodingError {
                throw malformed("[\(index)]: \(Self.summary(of: error))")
            } catch {
                throw malformed("[\(index)]: \(type(of: error))")
            }
            if let stranger = grant.principals.first(where: { $0 != owner && $0 != "*" }) {
                throw malformed("[\(index)] names '\(stranger)'; grants under this key may only name '\(owner)' or \"*\"")
            }
            grants.append(grant)
        }
        return grants
    }

    private static func summary(of error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            return context.debugDescription
        @unknown default:
            return "invalid grant"
        }
    }

    static func backendError(for error: any Error) -> PolicyBackendError {
        guard let error = error as? RedisError else {
            return PolicyBackendError(kind: .transport, detail: "\(type(of: error))")
        }
        switch error.kind {
        case .timeout: return PolicyBackendError(kind: .timeout, detail: error.detail)
        case .connection: return PolicyBackendError(kind: .transport, detail: error.detail)
        case .protocol, .server: return PolicyBackendError(kind: .malformedResult, detail: error.detail)
        }
    }
}

/// Whose grants a request needs: the principal's own list and one per group.
struct GrantOwners: Hashable, Sendable {
    var principal: String
    var groups: [String]
}

extension RedisReply {
    /// The reply's type, for messages (never its content).
    var kindName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .array: return "an array"
        case .null: return "nil"
        case .status: return "a status"
        case .error: return "an error"
        }
    }
}

extension RedisPolicy: CacheHolding {
    var caches: [any CacheStatisticsSource] { [self.grants] }
}
