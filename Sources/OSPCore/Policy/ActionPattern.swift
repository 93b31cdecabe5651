/// A grant's action pattern compiled once, so evaluation compares bytes and never allocates. IAM
/// action names are case-insensitive, so patterns are stored lowercased and compared ASCII-folded.
enum ActionPattern: Sendable, Equatable {
    /// `"*"`: every action.
    case any
    /// `"s3:GetObject"` (and each member of a group).
    case exact([UInt8])
    /// `"s3:Get*"`, `"s3:*"`: every action starting with the bytes before the `*`.
    case prefix([UInt8])

    /// The patterns `text` stands for (a group expands to its members), or `nil` if it is not a
    /// pattern: `"*"`, a group name, or `s3:` followed by letters with an optional trailing `*`.
    static func compile(_ text: String) -> [ActionPattern]? {
        if text == "*" { return [.any] }
        let lowered = text.lowercased()
        if let members = groups[lowered] {
            return members.map { .exact(Array($0.lowercased().utf8)) }
        }
        var bytes = Array(lowered.utf8)
        guard bytes.starts(with: service) else { return nil }
        let isWildcard = bytes.last == UInt8(ascii: "*")
        if isWildcard { bytes.removeLast() }
        let name = bytes.dropFirst(service.count)
        guard name.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }) else { return nil }
        if isWildcard { return [.prefix(bytes)] }
        return name.isEmpty ? nil : [.exact(bytes)]
    }

    func matches(_ action: String) -> Bool {
        switch self {
        case .any:
            return true
        case .exact(let pattern):
            return action.utf8.count == pattern.count && Self.hasLowercasedPrefix(action, pattern)
        case .prefix(let pattern):
            return Self.hasLowercasedPrefix(action, pattern)
        }
    }

    /// Whether `text`, ASCII-lowercased, starts with `pattern` (already lowercase).
    private static func hasLowercasedPrefix(_ text: String, _ pattern: [UInt8]) -> Bool {
        var index = 0
        for byte in text.utf8 {
            guard index < pattern.count else { return true }
            let folded = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
            guard folded == pattern[index] else { return false }
            index += 1
        }
        return index == pattern.count
    }

    private static let service = Array("s3:".utf8)

    static let groupNames = ["read", "write", "list", "delete"]

    /// What the group names grant. HeadObject is authorized as `s3:GetObject`, multipart create,
    /// upload, complete and copy as `s3:PutObject`. `write` also lists the parts of an upload (a
    /// resumed upload needs them) but does not set retention or legal holds: those lock objects and
    /// are granted by name, as is `s3:BypassGovernanceRetention`, which `delete` does not include.
    static let groups: [String: [String]] = [
        "read": [
            "s3:GetObject", "s3:GetObjectVersion",
            "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
            "s3:GetObjectAcl", "s3:GetObjectVersionAcl",
            "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes",
            "s3:GetObjectLegalHold", "s3:GetObjectRetention",
            "s3:ListMultipartUploadParts",
        ],
        "write": [
            "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
            "s3:PutObjectTagging", "s3:PutObjectVersionTagging",
            "s3:PutObjectAcl", "s3:PutObjectVersionAcl",
        ],
        "list": [
            "s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads",
            "s3:GetBucketLocation", "s3:ListAllMyBuckets",
        ],
        "delete": [
            "s3:DeleteObject", "s3:DeleteObjectVersion",
            "s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging",
        ],
    ]
}
