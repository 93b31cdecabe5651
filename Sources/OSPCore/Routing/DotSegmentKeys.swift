/// What osp does with an object key that has a `.` or `..` path segment: `a/../b`, also when spelled
/// `a/%2e%2e/b`, `a%2F..%2Fb` or `a/..\b`.
///
/// S3 stores such keys literally, and osp authorizes the literal key. But anything between the
/// client and the data that normalises paths — an HTTP proxy in front of a backend, a backend's URL
/// handling, an SDK — turns an authorized `allowed/../secret` into `secret`, outside the prefix the
/// policy granted. So by default they are refused before anything else looks at the request.
public enum DotSegmentKeys: String, Sendable, Equatable, CaseIterable {
    /// 400 `InvalidArgument`, nothing forwarded (the default).
    case refuse
    /// Taken literally, as AWS S3 does: for buckets that already hold such keys, behind backends
    /// known not to normalise paths.
    case literal

    /// Whether the decoded `key` has a segment that is exactly `.` or `..`. Backslashes separate
    /// segments too: some normalisers treat them as slashes.
    public static func hasDotSegment(_ key: String) -> Bool {
        var dots = 0
        var segmentIsDots = true
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: "\\"):
                if segmentIsDots && (dots == 1 || dots == 2) { return true }
                dots = 0
                segmentIsDots = true
            case UInt8(ascii: "."):
                dots += 1
            default:
                segmentIsDots = false
            }
        }
        return segmentIsDots && (dots == 1 || dots == 2)
    }
}
