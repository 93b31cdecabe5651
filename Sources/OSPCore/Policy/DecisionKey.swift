import S3Signing

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
        var writer = Writer()
        writer.subject(
            principal: question.principal, groups: question.groups, action: question.action,
            bucket: question.bucket, key: acrossKeys ? nil : question.key
        )
        writer.pairs(question.conditions, skipping: "CurrentTime")
        let request = question.request
        writer.string(request.method)
        writer.string(acrossKeys ? "" : request.path)
        writer.string(request.query)
        writer.pairs(request.headers)
        writer.optional(request.sourceIP)
        self = writer.finish()
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
        var hasher = Hasher()
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        self.hash = hasher.finalize()
    }

    func hash(into hasher: inout Hasher) { hasher.combine(self.hash) }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.hash == rhs.hash && lhs.bytes == rhs.bytes }

    /// Writes a question's fields in the key's layout. `init(_:acrossKeys:)` writes a built question
    /// through it, and the policy hot path (`Authorizer.cachedVerdict`) writes a request's question
    /// straight from the request, without building it: one writer, so the two cannot disagree.
    /// Pairs (conditions, headers) must be written in ascending name order.
    struct Writer {
        private(set) var bytes: [UInt8]

        init() {
            self.init(reusing: [])
        }

        /// Writes into `buffer`'s storage (emptied first): a caller that writes many keys (a
        /// connection's decision-cache lookups) hands back the same buffer each time, `bytes` once
        /// the key is used, and so allocates none once it has grown.
        init(reusing buffer: consuming [UInt8]) {
            buffer.removeAll(keepingCapacity: true)
            buffer.reserveCapacity(256)
            self.bytes = buffer
        }

        mutating func subject(principal: String, groups: [String], action: String, bucket: String?, key: String?) {
            string(principal)
            count(groups.count)
            for group in groups { string(group) }
            string(action)
            optional(bucket)
            optional(key)
        }

        mutating func string(_ string: String) {
            // Read in place (`withUTF8` would need a mutable copy of the string, a retain and a
            // release per field).
            string.withContiguousUTF8 { utf8 in
                count(utf8.count)
                bytes.append(contentsOf: utf8)
            }
        }

        mutating func optional(_ string: String?) {
            guard let string else {
                bytes.append(0)
                return
            }
            bytes.append(1)
            self.string(string)
        }

        /// Starts a run of pairs; `endPairs` writes how many there were where this returns.
        mutating func beginPairs() -> Int {
            let start = bytes.count
            count(0)
            return start
        }

        mutating func pair(_ name: String, _ value: String) {
            string(name)
            string(value)
        }

        mutating func endPairs(_ start: Int, count: Int) {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: count).littleEndian) { bytes.replaceSubrange(start..<start + 4, with: $0) }
        }

        /// A dictionary's pairs in name order (sorted in a stack buffer: a question has a handful of
        /// conditions and headers).
        mutating func pairs(_ dictionary: [String: String], skipping skipped: String? = nil) {
            if dictionary.isEmpty {
                count(0)
                return
            }
            withUnsafeTemporaryAllocation(of: (name: String, value: String).self, capacity: dictionary.count) { entries in
                var filled = 0
                for (name, value) in dictionary where name != skipped {
                    (entries.baseAddress! + filled).initialize(to: (name, value))
                    filled += 1
                }
                var sorted = UnsafeMutableBufferPointer(rebasing: entries[..<filled])
                defer { _ = sorted.deinitialize() }
                sorted.sort { $0.name < $1.name }
                count(filled)
                for entry in sorted { pair(entry.name, entry.value) }
            }
        }

        func finish() -> DecisionKey { DecisionKey(bytes: bytes) }

        private mutating func count(_ count: Int) {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: count).littleEndian) { bytes.append(contentsOf: $0) }
        }
    }
}
