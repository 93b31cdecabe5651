/// How osp addresses a backend bucket: in the path (`host/bucket/key`) or in the host name
/// (`bucket.host/key`). Independent of how the client addressed osp.
public enum AddressingStyle: String, Sendable, Equatable, CaseIterable {
    case path
    case virtual
}
