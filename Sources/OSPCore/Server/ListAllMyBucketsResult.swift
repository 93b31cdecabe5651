import Foundation
import NIOCore
import S3Signing

/// The ListBuckets answer osp gives for `GET /`: the buckets configured in the cos_map, plus,
/// when a default route exists, the buckets its backend lists itself.
struct ListAllMyBucketsResult {
    struct Bucket: Equatable {
        var name: String
        var creationDate: String
    }

    var ownerID: String
    private(set) var buckets: [Bucket]

    init(ownerID: String, buckets: [(name: String, creationDate: AmzDate)]) {
        self.ownerID = ownerID
        self.buckets = buckets.map { Bucket(name: $0.name, creationDate: Self.iso8601($0.creationDate)) }
    }

    init(ownerID: String, buckets: [Bucket]) {
        self.ownerID = ownerID
        self.buckets = buckets
    }

    /// Adds the backend's buckets that are not configured by name already; sorted by name.
    mutating func merge(_ backend: [Bucket], creationDate: AmzDate) {
        let known = Set(self.buckets.map(\.name))
        self.buckets += backend.filter { !known.contains($0.name) }
        self.buckets.sort { $0.name < $1.name }
    }

    /// Keeps only the buckets the principal may see.
    mutating func keep(_ visibility: BucketVisibility) {
        self.buckets.removeAll { !visibility.includes($0.name) }
    }

    func xml(allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: 256 + buckets.count * 96)
        out.writeString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        out.writeString("<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>")
        out.writeXMLEscaped(ownerID)
        out.writeString("</ID><DisplayName>")
        out.writeXMLEscaped(ownerID)
        out.writeString("</DisplayName></Owner><Buckets>")
        for bucket in buckets {
            out.writeString("<Bucket><Name>")
            out.writeXMLEscaped(bucket.name)
            out.writeString("</Name><CreationDate>")
            out.writeXMLEscaped(bucket.creationDate)
            out.writeString("</CreationDate></Bucket>")
        }
        out.writeString("</Buckets></ListAllMyBucketsResult>")
        return out
    }

    /// The `<Bucket>` entries of a backend's ListBuckets XML (names and creation dates kept as
    /// the backend wrote them). `nil` if it does not look like a ListAllMyBucketsResult.
    static func parseBucketNames(_ body: ByteBuffer) -> [Bucket]? {
        let text = String(buffer: body)
        guard text.contains("ListAllMyBucketsResult") else { return nil }
        var buckets: [Bucket] = []
        var rest = Substring(text)
        while let open = rest.range(of: "<Bucket>"), let close = rest.range(of: "</Bucket>", range: open.upperBound..<rest.endIndex) {
            let entry = rest[open.upperBound..<close.lowerBound]
            if let name = element("Name", in: entry) {
                buckets.append(Bucket(name: name, creationDate: element("CreationDate", in: entry) ?? ""))
            }
            rest = rest[close.upperBound...]
        }
        return buckets
    }

    private static func element(_ name: String, in text: Substring) -> String? {
        guard let open = text.range(of: "<\(name)>"),
            let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex)
        else { return nil }
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// `2026-11-29T22:02:16.000Z`, the form S3 uses in listings (and policies' `CurrentTime`);
    /// built on bytes, as it is formatted for every authorized request.
    static func iso8601(_ date: AmzDate) -> String {
        let basic = Array(date.amzDate.utf8)  // 20261129T220216Z
        guard basic.count == 16 else { return date.amzDate }
        var out: [UInt8] = []
        out.reserveCapacity(24)
        out += basic[0..<4]
        out.append(UInt8(ascii: "-"))
        out += basic[4..<6]
        out.append(UInt8(ascii: "-"))
        out += basic[6..<8]
        out.append(UInt8(ascii: "T"))
        out += basic[9..<11]
        out.append(UInt8(ascii: ":"))
        out += basic[11..<13]
        out.append(UInt8(ascii: ":"))
        out += basic[13..<15]
        out += Array(".000Z".utf8)
        return String(decoding: out, as: UTF8.self)
    }
}
