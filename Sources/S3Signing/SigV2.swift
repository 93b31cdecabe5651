import Crypto
import NIOHTTP1

/// Legacy S3 signatures (HMAC-SHA1, "AWS AKID:sig" and `?AWSAccessKeyId=…&Signature=…`), which
/// old clients still send. Only verification lives here; osp never signs upstream with SigV2.
enum SigV2 {
    /// Sub-resources that belong in the CanonicalizedResource, per the AWS documentation (and the
    /// newer S3 APIs that S3 itself treats the same way).
    static let awsSubResources: Set<String> = [
        "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
        "requestPayment", "response-cache-control", "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires", "restore", "tagging", "torrent",
        "uploadId", "uploads", "versionId", "versioning", "versions", "website", "object-lock", "retention",
        "legal-hold", "encryption", "replication", "accelerate", "inventory", "analytics", "metrics",
        "ownershipControls", "publicAccessBlock", "intelligent-tiering", "select", "select-type", "attributes",
    ]

    /// The list botocore's HmacV1Auth (`QSAOfInterest`) signs. It differs from S3's own list (e.g. it
    /// has `storageClass` and lacks `retention`), so a botocore-signed request is also accepted when
    /// its resource was built from this list.
    static let botocoreSubResources: Set<String> = [
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
        "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
        "response-content-type", "response-content-language", "response-expires", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
        "storageClass", "notification", "replication", "analytics", "metrics", "inventory", "select",
        "select-type", "object-lock",
    ]

    /// `/bucket/key` (as sent) plus `?name&name=value` for the sub-resources in the query, sorted by
    /// name, values decoded (as botocore does).
    static func canonicalizedResource(path: String, rawQuery: String, subResources: Set<String>) -> String {
        var resource = path.isEmpty ? "/" : path
        guard !rawQuery.isEmpty else { return resource }
        var selected: [(name: String, value: String?)] = []
        rawQuery.withContiguousUTF8 { bytes in
            RawQueryParameter.forEach(in: bytes) { parameter in
                // Names as sent (botocore matches them undecoded); values decoded.
                let name = String(decoding: bytes[parameter.name], as: UTF8.self)
                guard subResources.contains(name) else { return }
                selected.append((name, parameter.hasEquals ? QueryParameters.decode(bytes[parameter.value]) : nil))
            }
        }
        guard !selected.isEmpty else { return resource }
        // A stable sort by name only: repeated names keep their order, like Python's sort.
        let sorted = selected.enumerated().sorted { a, b in
            a.element.name == b.element.name ? a.offset < b.offset : a.element.name.utf8.lexicographicallyPrecedes(b.element.name.utf8)
        }
        resource += "?"
        for (index, item) in sorted.enumerated() {
            if index > 0 { resource += "&" }
            resource += item.element.name
            if let value = item.element.value {
                resource += "=" + value
            }
        }
        return resource
    }

    /// StringToSign = Method\n Content-MD5\n Content-Type\n Date-or-Expires\n CanonicalizedAmzHeaders CanonicalizedResource.
    static func stringToSign(
        method: String, headers: HTTPHeaders, dateOrExpires: String, amzHeaders: [(String, String)],
        resource: String
    ) -> String {
        var s = method + "\n"
        s += (headers.first(name: "content-md5").map { String(Substring($0).trimmingSpaces()) } ?? "") + "\n"
        s += (headers.first(name: "content-type").map { String(Substring($0).trimmingSpaces()) } ?? "") + "\n"
        s += dateOrExpires + "\n"
        for (name, value) in amzHeaders {
            s += name + ":" + value + "\n"
        }
        s += resource
        return s
    }

    /// `x-amz-*` headers, lowercase, sorted, repeated values joined with `,`; for query authentication
    /// `x-amz-*` query parameters stand in for headers the request does not carry.
    static func canonicalizedAmzHeaders(_ headers: HTTPHeaders, query: QueryParameters?) -> [(String, String)] {
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            let lower = name.lowercased()
            guard lower.hasPrefix("x-amz-") else { continue }
            values[lower, default: []].append(String(Substring(value).trimmingSpaces()))
        }
        if let query {
            for pair in query.pairs {
                let lower = pair.name.lowercased()
                guard lower.hasPrefix("x-amz-"), values[lower] == nil else { continue }
                values[lower] = [pair.value]
            }
        }
        return values.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { ($0, values[$0]!.joined(separator: ",")) }
    }

    /// Base64 HMAC-SHA1 of the string to sign.
    static func signature(secret: String, stringToSign: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(
            for: Array(stringToSign.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return Base64.encode(Array(mac))
    }
}
