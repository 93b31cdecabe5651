/// The parsers osp runs on bytes a client (or an operator) controls, each behind one fuzz entry
/// point. An input that makes a target trap — an out-of-range index, an overflow, a failed
/// invariant — is a bug: the gateway must refuse bad input with an S3 error, never crash on it.
enum FuzzTarget: String, CaseIterable, Sendable {
    /// `Authorization: AWS4-HMAC-SHA256 …` requests: header parsing, canonical request, verification.
    case sigV4Header = "sigv4-header"
    /// Presigned `?X-Amz-Algorithm=…` requests: query parsing, canonical query, expiry checks.
    case sigV4Query = "sigv4-query"
    /// SigV2 `Authorization: AWS key:sig` and `?AWSAccessKeyId=…&Signature=…` requests.
    case sigV2 = "sigv2"
    /// aws-chunked bodies through `AWSChunkedTranscoder`, in every payload mode and output form.
    case awsChunked = "aws-chunked"
    /// DeleteObjects (`POST ?delete`) XML bodies.
    case deleteObjects = "delete-objects"
    /// RestoreObject (`POST ?restore`) XML bodies: a plain restore forwarded, a SELECT one refused.
    case restoreObject = "restore-object"
    /// Bucket configurations naming the buckets the backend writes into (logging, replication,
    /// inventory, analytics): read before deciding, forwarded as sent.
    case bucketDestinations = "bucket-destinations"
    /// The YAML config file.
    case config = "config"
    /// Request heads through `S3RequestRouter` (bucket, key, operation, `x-amz-copy-source`).
    case router = "router"
    /// Browser form uploads (POST Object): the form read before the file, and re-issued for the backend.
    case postForm = "post-form"

    /// Runs one input. Returns whether the input was accepted or refused; traps on a bug.
    @discardableResult
    func run(_ input: [UInt8]) -> FuzzOutcome {
        switch self {
        case .sigV4Header: return AuthenticationFuzzing.sigV4Header(input)
        case .sigV4Query: return AuthenticationFuzzing.sigV4Query(input)
        case .sigV2: return AuthenticationFuzzing.sigV2(input)
        case .awsChunked: return AWSChunkedFuzzing.run(input)
        case .deleteObjects: return DeleteObjectsFuzzing.run(input)
        case .restoreObject: return RestoreObjectFuzzing.run(input)
        case .bucketDestinations: return BucketDestinationsFuzzing.run(input)
        case .config: return ConfigFuzzing.run(input)
        case .router: return RouterFuzzing.run(input)
        case .postForm: return PostFormFuzzing.run(input)
        }
    }

    static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// What became of one input, for `osp-fuzz replay` with `OSP_FUZZ_VERBOSE`: a seed that is meant to
/// pass should be seen to pass. Both are normal outcomes; only a trap is a finding.
enum FuzzOutcome: CustomStringConvertible {
    case accepted(String)
    case refused(String)

    var description: String {
        switch self {
        case .accepted(let detail): return "accepted: \(detail)"
        case .refused(let reason): return "refused: \(reason)"
        }
    }
}

/// A property every accepted input must have. A violation is as much a bug as a crash, so it is
/// one: libFuzzer keeps the input, and a replay of it fails.
func invariant(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition {
        fatalError("fuzz invariant violated: \(message())", file: file, line: line)
    }
}
