/// A policy question flattened into one byte string: what the decision cache files an answer under.
///
/// Two questions get the same key exactly when they are equal as `AuthorizationRequest`s, except
/// for the clock (`CurrentTime` is left out: it would make every question new) and, for a key that
/// is shared across objects (`acrossKeys`), the object key and request path.
///
/// Why bytes and not the question itself: hashing an `AuthorizationRequest` hashes two dictionaries,
/// one seeded hasher per entry, and comparing them looks every entry up again — on a warm cache that
/// was most of the cost of a policy answer. A key is one allocation, one hash over contiguous bytes
/// and one comparison of them.
///
/// Every field is written with its length in front (and optional fields with a presence byte), so
/// no two different questions can produce the same bytes; dictionaries are written in name order,
/// so equal dictionaries do too whatever their insertion history.
struct DecisionKey: Hashable, Sendable {
    private let bytes: [UInt8]
    private let hash: Int

    init(_ question: AuthorizationRequest, acrossKeys: Bool = false) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        Self.append(question.principal, to: &bytes)
        Self.append(count: question.groups.count, to: &bytes)
        for group in question.groups { Self.append(group, to: &bytes) }
        Self.append(question.action, to: &bytes)
        Self.append(question.bucket, to: &bytes)
        Self.append(acrossKeys ? nil : question.key, to: &bytes)
        Self.append(question.conditions, skipping: "CurrentTime", to: &bytes)
        let request = question.request
        Self.append(request.method, to: &bytes)
        Self.append(acrossKeys ? "" : request.path, to: &bytes)
        Self.append(request.query, to: &bytes)
        Self.append(request.headers, to: &bytes)
        Self.append(request.sourceIP, to: &bytes)
        self.bytes = bytes
        var hasher = Hasher()
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        self.hash = hasher.finalize()
    }

    func hash(into hasher: inout Hasher) { hasher.combine(self.hash) }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.hash == rhs.hash && lhs.bytes == rhs.bytes }

    private static func append(count: Int, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: count).littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func append(_ string: String, to bytes: inout [UInt8]) {
        var string = string
        string.withUTF8 { utf8 in
            append(count: utf8.count, to: &bytes)
            bytes.append(contentsOf: utf8)
        }
    }

    private static func append(_ string: String?, to bytes: inout [UInt8]) {
        guard let string else {
            bytes.append(0)
            return
        }
        bytes.append(1)
        append(string, to: &bytes)
    }

    private static func append(_ dictionary: [String: String], skipping skipped: String? = nil, to bytes: inout [UInt8]) {
        // Sorted in a stack buffer: a question has a handful of conditions and headers, and the
        // key is built on every policy-cache lookup.
        withUnsafeTemporaryAllocation(of: (name: String, value: String).self, capacity: dictionary.count) { entries in
            var count = 0
            for (name, value) in dictionary where name != skipped {
                (entries.baseAddress! + count).initialize(to: (name, value))
                count += 1
            }
            var filled = UnsafeMutableBufferPointer(rebasing: entries[..<count])
            defer { _ = filled.deinitialize() }
            filled.sort { $0.name < $1.name }
            append(count: count, to: &bytes)
            for entry in filled {
                append(entry.name, to: &bytes)
                append(entry.value, to: &bytes)
            }
        }
    }
}
