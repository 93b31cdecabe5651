import NIOHTTP1

/// The label values osp's request metrics may carry, each from a small fixed set, so that no request
/// can mint a new time series: a client choosing its method, its query or its key must not be able
/// to grow the scrape (or the memory behind it) without bound. Object keys, bucket names, access keys
/// and principals are never labels; they are in the access log.
///
/// Each set is an array, and a value's position in it is what the per-request path carries around,
/// so a label lookup is an index, not a string hash.
enum MetricLabels {
    // MARK: Method

    /// The methods S3 uses, and `OTHER` for anything else a client sends.
    static let methods = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "OTHER"]

    static func methodIndex(_ method: HTTPMethod) -> Int {
        switch method {
        case .GET: return 0
        case .HEAD: return 1
        case .PUT: return 2
        case .POST: return 3
        case .DELETE: return 4
        case .OPTIONS: return 5
        default: return 6
        }
    }

    // MARK: Status class

    /// `none` is a request that ended (the client left, the connection was cut) before any status was sent.
    static let statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"]

    static func statusClassIndex(_ status: Int) -> Int {
        switch status {
        case 100..<200: return 0
        case 200..<300: return 1
        case 300..<400: return 2
        case 400..<500: return 3
        case 500...: return 4
        default: return 5
        }
    }

    // MARK: Action

    /// Every IAM action the operation table can produce (versioned variants included), then
    /// `none` for a request that could not be routed and `other` as the catch-all (unreachable as
    /// long as the table is the only source of actions, kept so a new source cannot add labels).
    static let actions: [String] = {
        var seen = Set<String>()
        var actions: [String] = []
        func add(_ action: String) {
            if seen.insert(action).inserted { actions.append(action) }
        }
        add(S3Operation.listBuckets.action)
        add(S3Operation.unknown.action)
        for row in S3OperationTable.rows {
            add(row.operation.action)
            if let versioned = row.versionAction { add(versioned) }
        }
        for source in ["s3:GetObject", "s3:GetObjectVersion"] { add(source) }
        add(noAction)
        add(otherAction)
        return actions
    }()

    static let noAction = "none"
    static let otherAction = "other"

    private static let actionIndices: [String: Int] = Dictionary(
        uniqueKeysWithValues: actions.enumerated().map { ($0.element, $0.offset) }
    )

    /// The index of `action` in `actions`: `none` for nil, `other` for a string not in the set.
    static func actionIndex(_ action: String?) -> Int {
        guard let action else { return actionIndices[noAction]! }
        return actionIndices[action] ?? actionIndices[otherAction]!
    }
}
