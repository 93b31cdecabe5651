import Foundation
import Logging
import NIOCore
import NIOPosix
import S3Signing

/// Client secrets from an HTTP service (`secrets.backend: http`, the original's `hmac_fetcher`), asked
/// through libcurl on a thread pool so no event loop waits.
///
/// The protocol, chosen to be trivial to implement behind any key store:
///
///     GET {url}?access_key=<form-encoded key>
///     Accept: application/json
///     Authorization: Bearer <token>            (when configured)
///
///     200 {"secret_key": "…", "principal": "alice", "groups": ["readers"]}  → that identity
///     404 (any body)                                                        → unknown key (403 InvalidAccessKeyId)
///     anything else                                                         → 503 ServiceUnavailable
///
/// `GET` rather than `POST`: the lookup is a pure read, and an access key is an identifier, not a
/// secret, so it may appear in the service's access log. `principal` defaults to the access key and
/// `groups` to none; unknown fields are ignored (room for the service to grow), but a field of the
/// wrong type, an empty `secret_key`, or an `access_key` field naming another key makes the whole
/// answer garbage. Garbage, other statuses, timeouts and transport errors fail the future with
/// `S3Error(.serviceUnavailable)`: a secret store that cannot answer never lets a request through,
/// and the next request asks again. Wrap in `CachedSecretSource` so each key is fetched rarely.
public struct HTTPSecretSource: ClientSecretSource {
    public let settings: HTTPCalloutSettings
    private let client: CurlHTTPClient
    private let logger: Logger

    public static let unavailable = S3Error(.serviceUnavailable, "The secret store is unavailable.")

    public init(settings: HTTPCalloutSettings, client: CurlHTTPClient, logger: Logger = HTTPSecretSource.silentLogger) {
        self.settings = settings
        self.client = client
        self.logger = logger
    }

    /// A source with its own `CurlHTTPClient` on `threadPool` (which the caller starts and stops).
    public init(settings: HTTPCalloutSettings, threadPool: NIOThreadPool, logger: Logger = HTTPSecretSource.silentLogger) {
        self.init(settings: settings, client: CurlHTTPClient(threadPool: threadPool, settings: settings.calloutSettings), logger: logger)
    }

    public func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?> {
        let logger = self.logger
        return client.get(
            url: settings.url(with: [("access_key", accessKey)]),
            headers: settings.requestHeaders,
            timeout: settings.timeout,
            on: eventLoop
        )
        .flatMapThrowing { response -> ClientIdentity? in
            switch response.status {
            case 200..<300:
                return try Self.identity(from: response.body, accessKey: accessKey)
            case 404:
                return nil
            default:
                throw CalloutError(.httpStatus, "HTTP status \(response.status)")
            }
        }
        .flatMapErrorThrowing { error in
            // The reason stays in the log (kind and libcurl's detail, never a body or a header); the
            // client only learns that the store could not answer.
            logger.warning(
                "secret callout failed",
                metadata: [
                    "reason": "\(calloutFailureReason(error))",
                    "access_key": "\(Redacted.accessKeyHint(accessKey))",
                ]
            )
            throw Self.unavailable
        }
    }

    /// Reads a 2xx answer.
    static func identity(from body: [UInt8], accessKey: String) throws(MalformedCalloutAnswer) -> ClientIdentity {
        let answer: SecretAnswer
        do {
            answer = try JSONDecoder().decode(SecretAnswer.self, from: Data(body))
        } catch {
            throw MalformedCalloutAnswer("the secret answer is not a JSON object of the expected shape")
        }
        guard !answer.secretKey.isEmpty else {
            throw MalformedCalloutAnswer("the secret answer has an empty secret_key")
        }
        if let echoed = answer.accessKey, echoed != accessKey {
            throw MalformedCalloutAnswer("the secret answer is for another access key")
        }
        if let principal = answer.principal, principal.isEmpty {
            throw MalformedCalloutAnswer("the secret answer has an empty principal")
        }
        return ClientIdentity(
            accessKey: accessKey,
            secretKey: answer.secretKey,
            principal: answer.principal ?? accessKey,
            groups: answer.groups ?? []
        )
    }

    /// Discards everything: the default, so library users and tests opt in to callout logs.
    public static let silentLogger = Logger(label: "osp.secrets.http", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// The JSON a secret service answers with; extra fields are ignored.
private struct SecretAnswer: Decodable {
    var secretKey: String
    var principal: String?
    var groups: [String]?
    var accessKey: String?

    enum CodingKeys: String, CodingKey {
        case secretKey = "secret_key"
        case principal
        case groups
        case accessKey = "access_key"
    }
}
