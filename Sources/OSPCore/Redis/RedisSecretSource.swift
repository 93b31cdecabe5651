import NIOCore
import S3Signing

/// Client keys kept in Redis (the original's `hmac_fetcher`): `HGETALL P key:<access_key>` →
/// `secret`, `principal`, `groups` (comma-separated, optional). Keys can be issued and revoked
/// without restarting osp.
///
/// An absent key (empty hash) is an unknown key (nil → 403 InvalidAccessKeyId). Redis being down or
/// slow, a key of the wrong type, or a hash without `secret` or `principal` refuses the request with
/// 503 ServiceUnavailable: the store could not give a usable answer, and a client retrying later
/// is the right reaction. The secret never appears in an error.
public struct RedisSecretSource: ClientSecretSource {
    public let client: RedisClient
    public let schema: RedisKeySchema

    public init(client: RedisClient) {
        self.client = client
        self.schema = client.settings.schema
    }

    public func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?> {
        client.command(["HGETALL", schema.clientKey(accessKey: accessKey)], idempotent: true, on: eventLoop)
            .flatMapErrorThrowing { _ in
                throw S3Error(.serviceUnavailable, "The secret store is unavailable.")
            }
            .flatMapThrowing { reply in
                try Self.identity(accessKey: accessKey, reply: reply)
            }
    }

    static func identity(accessKey: String, reply: RedisReply) throws(S3Error) -> ClientIdentity? {
        guard let fields = reply.hashFields else {
            throw S3Error(.serviceUnavailable, "The secret store is unavailable.")
        }
        if fields.isEmpty { return nil }
        guard let secret = fields["secret"], !secret.isEmpty, let principal = fields["principal"], !principal.isEmpty else {
            throw S3Error(.serviceUnavailable, "The secret store is unavailable.")
        }
        return ClientIdentity(
            accessKey: accessKey,
            secretKey: secret,
            principal: principal,
            groups: RedisKeySchema.groups(fields["groups"] ?? "")
        )
    }
}

extension RedisKeySchema {
    /// `"team, admins,"` → `["team", "admins"]`: comma-separated, spaces trimmed, empties dropped.
    static func groups(_ text: String) -> [String] {
        text.split(separator: ",").compactMap { part in
            let trimmed = part.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed()
            return trimmed.isEmpty ? nil : String(trimmed)
        }
    }
}
