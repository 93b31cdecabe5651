import NIOCore
import NIOHTTP1
import S3Signing

/// A request whose sender osp has proven: who they are and how the body will be framed.
public struct AuthenticatedRequest: Sendable {
    public var identity: ClientIdentity
    public var authentication: ClientAuthentication
    public var payloadMode: PayloadMode
    /// For signed aws-chunked uploads: the client's signing chain, to verify each chunk.
    public var clientChunkSigning: ChunkSigningContext?
}

/// Proves who sent a request: parses its SigV4/SigV2 credentials (header or query), looks up
/// the secret of the access key and verifies the signature, clock skew and presign expiry.
/// Nothing about the request is trusted before this succeeds.
public struct Authenticator: Sendable {
    let secrets: any ClientSecretSource
    let verifier: RequestVerifier
    let skipSignatureValidation: Bool

    public init(secrets: any ClientSecretSource, verifier: RequestVerifier, skipSignatureValidation: Bool) {
        self.secrets = secrets
        self.verifier = verifier
        self.skipSignatureValidation = skipSignatureValidation
    }

    /// - Parameter sigV2ResourcePath: `/bucket/key` as the client sent it (SigV2 signs the
    ///   path-style resource even for virtual-host requests).
    public func authenticate(
        _ request: IncomingRequest,
        sigV2ResourcePath: String,
        now: AmzDate,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<AuthenticatedRequest> {
        self.complete(
            self.authenticateNow(request, sigV2ResourcePath: sigV2ResourcePath, now: now),
            request, sigV2ResourcePath: sigV2ResourcePath, now: now, on: eventLoop
        )
    }

    /// Finishes what `authenticateNow` started: fetches the secret it did not have, then verifies.
    public func complete(
        _ progress: Progress,
        _ request: IncomingRequest,
        sigV2ResourcePath: String,
        now: AmzDate,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<AuthenticatedRequest> {
        switch progress {
        case .done(let result):
            return eventLoop.makeCompletedFuture(result)
        case .lookUp(let authentication, let accessKey):
            return self.secrets.identity(forAccessKey: accessKey, on: eventLoop).flatMapThrowing { identity in
                try self.verify(request, authentication, identity: identity, sigV2ResourcePath: sigV2ResourcePath, now: now)
            }
        case .unverified(let authentication):
            return self.unverified(request, authentication, on: eventLoop)
        }
    }

    /// How far authentication gets without waiting.
    public enum Progress: Sendable {
        /// Decided: the keystore or a warm secret cache knew the key (or the request was refused
        /// before a key was needed).
        case done(Result<AuthenticatedRequest, any Error>)
        /// The secret of `accessKey` must be fetched first (`complete(_:_:sigV2ResourcePath:now:on:)`).
        case lookUp(ClientAuthentication, accessKey: String)
        /// Development mode (`skip_signature_validation`).
        case unverified(ClientAuthentication)
    }

    /// Authenticates with what is at hand: the per-request hot path, where an in-memory keystore
    /// or a warm secret cache answers, goes through no future.
    public func authenticateNow(_ request: IncomingRequest, sigV2ResourcePath: String, now: AmzDate) -> Progress {
        let authentication: ClientAuthentication
        do {
            authentication = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
        } catch {
            return .done(.failure(error))
        }
        if self.skipSignatureValidation {
            return .unverified(authentication)
        }
        guard let accessKey = authentication.accessKey else {
            return .done(.failure(S3Error.anonymousAccessDenied))
        }
        guard let identity = self.secrets.identityNow(forAccessKey: accessKey) else {
            return .lookUp(authentication, accessKey: accessKey)
        }
        return .done(Result { try self.verify(request, authentication, identity: identity, sigV2ResourcePath: sigV2ResourcePath, now: now) })
    }

    /// The signature check, once the key's identity (or its absence) is known.
    private func verify(
        _ request: IncomingRequest,
        _ authentication: ClientAuthentication,
        identity: ClientIdentity?,
        sigV2ResourcePath: String,
        now: AmzDate
    ) throws -> AuthenticatedRequest {
        guard let identity else {
            throw S3Error(.invalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        }
        let verified = try self.verifier.verify(
            authentication,
            request: request,
            secretKey: identity.secretKey,
            now: now,
            sigV2ResourcePath: sigV2ResourcePath
        )
        return AuthenticatedRequest(
            identity: identity,
            authentication: authentication,
            payloadMode: verified.payloadMode,
            clientChunkSigning: verified.chunkSigning
        )
    }

    /// Development mode: the signature is not checked; the key (if any) still names the principal.
    private func unverified(
        _ request: IncomingRequest,
        _ authentication: ClientAuthentication,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<AuthenticatedRequest> {
        let payloadMode: PayloadMode
        do {
            payloadMode = try request.headers.first(name: "x-amz-content-sha256").map { try PayloadMode(headerValue: $0) } ?? .unsigned
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        let anonymous = ClientIdentity.anonymous
        guard let accessKey = authentication.accessKey else {
            return eventLoop.makeSucceededFuture(
                AuthenticatedRequest(identity: anonymous, authentication: authentication, payloadMode: payloadMode, clientChunkSigning: nil)
            )
        }
        return self.secrets.identity(forAccessKey: accessKey, on: eventLoop).map { identity in
            AuthenticatedRequest(
                identity: identity ?? anonymous,
                authentication: authentication,
                payloadMode: payloadMode,
                clientChunkSigning: nil
            )
        }
    }
}
