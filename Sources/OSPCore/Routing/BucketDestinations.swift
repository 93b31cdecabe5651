import S3Signing

/// The buckets a bucket-configuration body tells the backend to write into: a logging target
/// (`PutBucketLogging`), the destinations of replication rules (`PutBucketReplication`), and the
/// destination of an inventory or of a storage-class analysis export
/// (`PutBucketInventoryConfiguration`, `PutBucketAnalyticsConfiguration`).
///
/// The backend writes there with osp's backend key, for a client that was asked only about
/// configuring its own bucket: left unread, `s3:PutBucketLogging` on one bucket would let a client
/// have the backend write into any bucket that key can write — one it may not touch, or one osp
/// does not serve at all. So osp reads these bodies before deciding: every destination must be a
/// bucket osp serves **as it is named** (same backend endpoint, no `backend_bucket` alias: the body
/// is forwarded as sent, and the backend reads the name as its own), and the principal must be
/// allowed `s3:PutObject` on it under the prefix the backend writes to (`destinationQuestions`).
///
/// The body is read as a whole tree, strictly (`StrictXMLReader`): no comment, CDATA, DTD or
/// processing instruction, no prefixed element, no text beside child elements, and every element
/// on a destination's path (`LoggingEnabled`, `Destination`, `Bucket`, `Prefix`, …) at most once
/// where it sits — where two parsers could pick different ones, osp refuses rather than guess.
/// Attributes are skipped (none says where to write), so a logging target's grantee with
/// `xsi:type` is read.
///
/// `package`: the tests read bodies through it directly.
package struct BucketDestinations: Equatable {
    package struct Destination: Equatable, Sendable {
        /// The bucket as the body names it (the bucket part of an ARN).
        package var bucket: String
        /// Where in that bucket the backend writes: under this prefix (`""`: anywhere). A
        /// replication rule's is its filter's prefix, as replicas keep their keys.
        package var prefix: String
    }

    /// A configuration is a few kilobytes; a thousand replication rules with filters fit in this.
    package static let maximumBodyBytes = 1 << 20
    /// Deeper than any of the four documents nests (analytics: six levels to its bucket).
    static let maximumDepth = 12

    package var destinations: [Destination]

    package init(xml bytes: [UInt8], kind: DecisionBody) throws(S3Error) {
        guard bytes.count <= Self.maximumBodyBytes else { throw kind.tooLarge }
        var reader = StrictXMLReader(bytes: bytes)
        try reader.skipDeclaration()
        reader.skipWhitespace()
        let root = try Element.read(&reader, depth: 0)
        reader.skipWhitespace()
        guard reader.isAtEnd else { throw StrictXMLReader.malformed }
        switch kind {
        case .bucketLogging: self.destinations = try Self.logging(root)
        case .bucketReplication: self.destinations = try Self.replication(root)
        case .bucketInventory: self.destinations = try Self.inventory(root)
        case .bucketAnalytics: self.destinations = try Self.analytics(root)
        case .deleteObjects, .restoreObject: self.destinations = []
        }
    }

    /// `<BucketLoggingStatus><LoggingEnabled><TargetBucket>b</TargetBucket><TargetPrefix>p/</TargetPrefix>`;
    /// no `LoggingEnabled` turns logging off and writes nowhere.
    private static func logging(_ root: Element) throws(S3Error) -> [Destination] {
        try root.expect("BucketLoggingStatus")
        guard let enabled = try root.only("LoggingEnabled") else { return [] }
        guard let bucket = try enabled.leaf("TargetBucket"), !bucket.isEmpty else { throw StrictXMLReader.malformed }
        return [Destination(bucket: bucket, prefix: try enabled.leaf("TargetPrefix") ?? "")]
    }

    /// Each `<Rule>`'s `<Destination><Bucket>arn</Bucket>`, under the rule's prefix (`<Filter><Prefix>`,
    /// `<Filter><And><Prefix>` or the older `<Rule><Prefix>`; a tag filter alone replicates anywhere).
    private static func replication(_ root: Element) throws(S3Error) -> [Destination] {
        try root.expect("ReplicationConfiguration")
        return try root.children.filter { $0.name == "Rule" }.map { rule throws(S3Error) in
            guard let destination = try rule.only("Destination"), let arn = try destination.leaf("Bucket") else {
                throw StrictXMLReader.malformed
            }
            let legacy = try rule.leaf("Prefix")
            let filter = try rule.only("Filter")
            let filtered = try filter?.leaf("Prefix")
            let combined = try filter?.only("And")?.leaf("Prefix")
            let prefixes = [legacy, filtered, combined].compactMap { $0 }
            guard prefixes.count <= 1 else { throw StrictXMLReader.malformed }
            return Destination(bucket: try bucketName(arn: arn), prefix: prefixes.first ?? "")
        }
    }

    /// `<InventoryConfiguration><Destination><S3BucketDestination><Bucket>arn</Bucket><Prefix>p</Prefix>`.
    private static func inventory(_ root: Element) throws(S3Error) -> [Destination] {
        try root.expect("InventoryConfiguration")
        guard let target = try root.only("Destination")?.only("S3BucketDestination") else { throw StrictXMLReader.malformed }
        return [try s3BucketDestination(target)]
    }

    /// `<AnalyticsConfiguration><StorageClassAnalysis><DataExport><Destination><S3BucketDestination>…`;
    /// an analysis without an export writes nowhere.
    private static func analytics(_ root: Element) throws(S3Error) -> [Destination] {
        try root.expect("AnalyticsConfiguration")
        guard let export = try root.only("StorageClassAnalysis")?.only("DataExport") else { return [] }
        guard let target = try export.only("Destination")?.only("S3BucketDestination") else { throw StrictXMLReader.malformed }
        return [try s3BucketDestination(target)]
    }

    private static func s3BucketDestination(_ element: Element) throws(S3Error) -> Destination {
        guard let arn = try element.leaf("Bucket") else { throw StrictXMLReader.malformed }
        return Destination(bucket: try bucketName(arn: arn), prefix: try element.leaf("Prefix") ?? "")
    }

    /// `arn:<partition>:s3:::<bucket>` → the bucket. Another form (a MinIO remote target's ARN, an
    /// access point's) names something osp cannot map onto the buckets it serves.
    static func bucketName(arn: String) throws(S3Error) -> String {
        let fields = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "arn", !fields[1].isEmpty, fields[2] == "s3", fields[3].isEmpty, fields[4].isEmpty,
            !fields[5].isEmpty, !fields[5].contains("/"), !fields[5].contains(":")
        else { throw Self.unmappableARN }
        return String(fields[5])
    }

    static let unmappableARN = S3Error(
        .notImplemented,
        "This gateway passes on destination buckets named by an S3 bucket ARN (arn:aws:s3:::bucket) only."
    )

    /// Every destination must be a bucket this gateway serves under that very name on the same
    /// backend endpoint as `sourceRoute` (the body goes to the backend as sent); else the request
    /// is refused: 403 for a bucket osp does not serve, 501 for one it serves under another name
    /// or on another backend (osp does not rewrite configuration bodies).
    package func check(against buckets: BucketMap, source sourceRoute: BucketRoute) throws(S3Error) {
        for destination in self.destinations {
            guard let route = buckets.route(for: destination.bucket) else {
                throw S3Error(.accessDenied, "The destination bucket \(destination.bucket) is not served by this gateway.")
            }
            guard BackendEndpoint(route) == BackendEndpoint(sourceRoute),
                route.backendBucketName(for: destination.bucket) == destination.bucket
            else {
                throw S3Error(
                    .notImplemented,
                    "The destination bucket \(destination.bucket) is served under another name or by another backend; this gateway does not rewrite configurations that name it."
                )
            }
        }
    }

    /// The questions a configuration with these destinations asks besides its own action:
    /// `s3:PutObject` on each destination bucket, for the prefix the backend writes under.
    func destinationQuestions(from base: AuthorizationRequest) -> [AuthorizationRequest] {
        self.destinations.map { destination in
            var question = base
            question.action = "s3:PutObject"
            question.bucket = destination.bucket
            question.key = destination.prefix
            // The request's own listing conditions say nothing about the destination.
            question.conditions.removeValue(forKey: "prefix")
            question.conditions.removeValue(forKey: "delimiter")
            question.conditions.removeValue(forKey: "max-keys")
            return question
        }
    }

    /// One element of the document: its children, or its text when it has none.
    struct Element {
        var name: String
        var text: String
        var children: [Element]

        static func read(_ reader: inout StrictXMLReader, depth: Int) throws(S3Error) -> Element {
            guard depth < BucketDestinations.maximumDepth else { throw StrictXMLReader.malformed }
            let (name, isEmpty) = try reader.startTagSkippingAttributes()
            if isEmpty { return Element(name: name, text: "", children: []) }
            let contentStart = reader.index
            reader.skipWhitespace()
            guard reader.isAtStartTag else {
                // Text (or nothing) up to the end tag; a comment, CDATA or child after it is refused there.
                reader.index = contentStart
                return Element(name: name, text: try reader.textAndEndTag(name), children: [])
            }
            var children: [Element] = []
            while true {
                reader.skipWhitespace()
                if try reader.endTagIfAny(name) { break }
                // Only child elements and white space between them: no text, comment or instruction.
                guard reader.isAtStartTag else { throw StrictXMLReader.malformed }
                children.append(try read(&reader, depth: depth + 1))
            }
            return Element(name: name, text: "", children: children)
        }

        func expect(_ root: String) throws(S3Error) {
            guard self.name == root else { throw StrictXMLReader.malformed }
        }

        /// The child called `name`, if any; two of them is ambiguous and refused.
        func only(_ name: String) throws(S3Error) -> Element? {
            var found: Element?
            for child in self.children where child.name == name {
                guard found == nil else { throw StrictXMLReader.malformed }
                found = child
            }
            return found
        }

        /// The text of the child called `name`, which must hold text only.
        func leaf(_ name: String) throws(S3Error) -> String? {
            guard let child = try self.only(name) else { return nil }
            guard child.children.isEmpty else { throw StrictXMLReader.malformed }
            return child.text
        }
    }
}
