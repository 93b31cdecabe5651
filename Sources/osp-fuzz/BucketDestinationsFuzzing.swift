import OSPCore

/// The bucket-destinations target: the first byte picks the configuration (logging, replication,
/// inventory, analytics), the rest is its body. osp forwards an accepted body as sent after asking
/// about the destinations it read, so besides not crashing: an accepted body holds nothing another
/// XML reader could see that this one skipped — no comment, CDATA, DTD or processing instruction
/// after the declaration, no prefixed start tag —, and what it read is what it would read again:
/// its destinations, written back into a document of the same kind, read back the same.
enum BucketDestinationsFuzzing {
    static let kinds: [DecisionBody] = [.bucketLogging, .bucketReplication, .bucketInventory, .bucketAnalytics]

    static func run(_ input: [UInt8]) -> FuzzOutcome {
        guard let selector = input.first else { return .refused("empty input") }
        let kind = kinds[Int(selector) % kinds.count]
        let body = Array(input.dropFirst())
        let read: BucketDestinations
        do {
            read = try BucketDestinations(xml: body, kind: kind)
        } catch {
            return .refused(error.message)
        }
        var index = 0
        while let open = body[index...].firstIndex(of: UInt8(ascii: "<")) {
            index = open + 1
            guard index < body.count else { break }
            let next = body[index]
            invariant(next != UInt8(ascii: "!"), "an accepted body holds a comment, CDATA or DTD")
            invariant(next != UInt8(ascii: "?") || open == 0, "an accepted body holds a processing instruction")
            if next != UInt8(ascii: "/") && next != UInt8(ascii: "?") {
                var end = index
                while end < body.count, !isDelimiter(body[end]) { end += 1 }
                invariant(!body[index..<end].contains(UInt8(ascii: ":")), "an accepted body has a prefixed start tag")
            }
        }
        let document = Array(self.document(read.destinations, kind: kind).utf8)
        do {
            let reread = try BucketDestinations(xml: document, kind: kind)
            invariant(reread == read, "the destinations read back differently")
        } catch {
            invariant(false, "the destinations, written back, were refused: \(error)")
        }
        return .accepted(read.destinations.map { "\($0.bucket) under \"\($0.prefix)\"" }.joined(separator: ", "))
    }

    /// `destinations` in the plainest document of `kind` that names them.
    private static func document(_ destinations: [BucketDestinations.Destination], kind: DecisionBody) -> String {
        func text(_ value: String) -> String { DeleteObjectsFuzzing.escaped(value) }
        func s3Destination(_ destination: BucketDestinations.Destination) -> String {
            "<S3BucketDestination><Bucket>arn:aws:s3:::\(text(destination.bucket))</Bucket><Prefix>\(text(destination.prefix))</Prefix></S3BucketDestination>"
        }
        switch kind {
        case .bucketLogging:
            guard let target = destinations.first else { return "<BucketLoggingStatus/>" }
            return "<BucketLoggingStatus><LoggingEnabled><TargetBucket>\(text(target.bucket))</TargetBucket>"
                + "<TargetPrefix>\(text(target.prefix))</TargetPrefix></LoggingEnabled></BucketLoggingStatus>"
        case .bucketReplication:
            let rules = destinations.map {
                "<Rule><Filter><Prefix>\(text($0.prefix))</Prefix></Filter><Destination><Bucket>arn:aws:s3:::\(text($0.bucket))</Bucket></Destination></Rule>"
            }
            return "<ReplicationConfiguration>" + rules.joined() + "</ReplicationConfiguration>"
        case .bucketInventory:
            return "<InventoryConfiguration><Destination>" + destinations.map(s3Destination).joined() + "</Destination></InventoryConfiguration>"
        case .bucketAnalytics:
            guard let target = destinations.first else { return "<AnalyticsConfiguration/>" }
            return "<AnalyticsConfiguration><StorageClassAnalysis><DataExport><Destination>" + s3Destination(target)
                + "</Destination></DataExport></StorageClassAnalysis></AnalyticsConfiguration>"
        case .deleteObjects, .restoreObject:
            return ""
        }
    }

    private static func isDelimiter(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == 0x09 || byte == 0x0A || byte == 0x0D
            || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ">")
    }
}
