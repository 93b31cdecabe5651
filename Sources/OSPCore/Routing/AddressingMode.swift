/// How the client named the bucket: in the path (`/bucket/key`), or in the Host header under one of
/// the configured base domains (`bucket.domain/key`). Needed to rebuild the request for a backend
/// that is addressed differently.
public enum AddressingMode: Sendable, Equatable {
    case path
    case virtualHost(domain: String)
}
