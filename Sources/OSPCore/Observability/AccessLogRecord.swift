/// What one S3 request did, as one line of the access log: who asked for what, what the policy said
/// and why, what the backend answered, and what went over the wire.
///
/// It holds only what is safe to keep: never the Authorization header, a query string (presigned URLs
/// carry `X-Amz-Signature`, `X-Amz-Credential`, `Signature`, and security tokens in it), a secret or a
/// token. The key is the decoded object key and the principal is the name osp resolved, not an
/// access key.
public struct AccessLogRecord: Sendable, Equatable {
    /// How the policy stage ended for this request.
    public enum Decision: String, Sendable {
        /// Every question was answered allow.
        case allow
        /// A policy said no, or could not answer (osp fails closed).
        case deny
        /// The request never reached the policy (refused earlier, e.g. by authentication).
        case none
    }

    /// When the request head arrived.
    var time: LogTimestamp
    public var requestID: String
    /// The client's IP address.
    public var remote: String?
    public var method: String
    /// The IAM action (`s3:GetObject`), when the request could be routed.
    public var action: String?
    public var bucket: String?
    public var key: String?
    /// The status sent to the client; 0 when the connection ended before any was.
    public var status: Int
    /// Body bytes received from the client and sent to it.
    public var bytesIn: Int
    public var bytesOut: Int
    /// From the head's arrival to the end of the response, in microseconds.
    public var durationMicroseconds: Int
    public var principal: String?
    public var decision: Decision
    /// Why the policy decided so ("no grant", "denied by grant 2", "policy backend timeout").
    public var reason: String?
    /// The backend's status, when a backend answered.
    public var upstreamStatus: Int?
    /// osp's own S3 error code, when osp refused the request itself.
    public var errorCode: String?

    init(
        time: LogTimestamp,
        requestID: String,
        remote: String? = nil,
        method: String,
        action: String? = nil,
        bucket: String? = nil,
        key: String? = nil,
        status: Int = 0,
        bytesIn: Int = 0,
        bytesOut: Int = 0,
        durationMicroseconds: Int = 0,
        principal: String? = nil,
        decision: Decision = .none,
        reason: String? = nil,
        upstreamStatus: Int? = nil,
        errorCode: String? = nil
    ) {
        self.time = time
        self.requestID = requestID
        self.remote = remote
        self.method = method
        self.action = action
        self.bucket = bucket
        self.key = key
        self.status = status
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.durationMicroseconds = durationMicroseconds
        self.principal = principal
        self.decision = decision
        self.reason = reason
        self.upstreamStatus = upstreamStatus
        self.errorCode = errorCode
    }

    /// The record as one JSON object on one line (no trailing newline). Field order is fixed so
    /// lines diff well; absent values are `null`, never omitted, so every line has every field.
    public var json: String {
        var out: [UInt8] = []
        out.reserveCapacity(320 + (key?.utf8.count ?? 0))
        out.append(contentsOf: #"{"time":""#.utf8)
        time.append(to: &out)
        out.append(contentsOf: #"","request_id":"#.utf8)
        JSONText.appendString(requestID, to: &out)
        out.append(contentsOf: #","remote":"#.utf8)
        JSONText.appendString(remote, to: &out)
        out.append(contentsOf: #","method":"#.utf8)
        JSONText.appendString(method, to: &out)
        out.append(contentsOf: #","action":"#.utf8)
        JSONText.appendString(action, to: &out)
        out.append(contentsOf: #","bucket":"#.utf8)
        JSONText.appendString(bucket, to: &out)
        out.append(contentsOf: #","key":"#.utf8)
        JSONText.appendString(key, to: &out)
        out.append(contentsOf: #","status":"#.utf8)
        JSONText.appendInteger(status, to: &out)
        out.append(contentsOf: #","bytes_in":"#.utf8)
        JSONText.appendInteger(bytesIn, to: &out)
        out.append(contentsOf: #","bytes_out":"#.utf8)
        JSONText.appendInteger(bytesOut, to: &out)
        out.append(contentsOf: #","duration_ms":"#.utf8)
        JSONText.appendFixedPoint(durationMicroseconds, to: &out)
        out.append(contentsOf: #","principal":"#.utf8)
        JSONText.appendString(principal, to: &out)
        out.append(contentsOf: #","decision":""#.utf8)
        out.append(contentsOf: decision.rawValue.utf8)
        out.append(contentsOf: #"","reason":"#.utf8)
        JSONText.appendString(reason, to: &out)
        out.append(contentsOf: #","upstream_status":"#.utf8)
        JSONText.appendInteger(upstreamStatus, to: &out)
        out.append(contentsOf: #","error_code":"#.utf8)
        JSONText.appendString(errorCode, to: &out)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}
