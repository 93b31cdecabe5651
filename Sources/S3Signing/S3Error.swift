/// An S3 error code with its HTTP status; osp's own refusals are rendered from it as S3 XML.
public enum S3ErrorCode: String, Sendable {
    case accessDenied = "AccessDenied"
    /// S3's answer to a CORS request its rules do not allow.
    case accessForbidden = "AccessForbidden"
    case badRequest = "BadRequest"
    case signatureDoesNotMatch = "SignatureDoesNotMatch"
    case invalidAccessKeyId = "InvalidAccessKeyId"
    case requestTimeTooSkewed = "RequestTimeTooSkewed"
    case authorizationHeaderMalformed = "AuthorizationHeaderMalformed"
    case authorizationQueryParametersError = "AuthorizationQueryParametersError"
    case missingSecurityHeader = "MissingSecurityHeader"
    case invalidArgument = "InvalidArgument"
    case invalidRequest = "InvalidRequest"
    case invalidURI = "InvalidURI"
    case invalidBucketName = "InvalidBucketName"
    case xAmzContentSHA256Mismatch = "XAmzContentSHA256Mismatch"
    case incompleteBody = "IncompleteBody"
    case invalidChunkSizeError = "InvalidChunkSizeError"
    case malformedXML = "MalformedXML"
    case missingContentLength = "MissingContentLength"
    case entityTooLarge = "EntityTooLarge"
    /// A POST form's file under its policy's `content-length-range`.
    case entityTooSmall = "EntityTooSmall"
    /// A POST form's fields before the file exceed what is read before deciding.
    case maxPostPreDataLengthExceeded = "MaxPostPreDataLengthExceeded"
    /// A POST form that is not multipart/form-data as S3 reads it.
    case malformedPOSTRequest = "MalformedPOSTRequest"
    /// A POST form's policy is not base64 JSON with an expiration and conditions S3 knows.
    case invalidPolicyDocument = "InvalidPolicyDocument"
    case requestHeaderSectionTooLarge = "RequestHeaderSectionTooLarge"
    case noSuchBucket = "NoSuchBucket"
    case methodNotAllowed = "MethodNotAllowed"
    /// A copy's `x-amz-copy-source-if-*` condition did not hold.
    case preconditionFailed = "PreconditionFailed"
    case notImplemented = "NotImplemented"
    case internalError = "InternalError"
    case badGateway = "BadGateway"
    case serviceUnavailable = "ServiceUnavailable"
    case gatewayTimeout = "GatewayTimeout"

    public var httpStatus: Int {
        switch self {
        case .accessDenied, .accessForbidden, .signatureDoesNotMatch, .invalidAccessKeyId, .requestTimeTooSkewed:
            return 403
        case .authorizationHeaderMalformed, .authorizationQueryParametersError, .missingSecurityHeader,
            .invalidArgument, .invalidRequest, .invalidURI, .invalidBucketName, .xAmzContentSHA256Mismatch,
            .incompleteBody, .invalidChunkSizeError, .malformedXML, .entityTooLarge, .entityTooSmall,
            .maxPostPreDataLengthExceeded, .malformedPOSTRequest, .invalidPolicyDocument,
            .requestHeaderSectionTooLarge, .badRequest:
            return 400
        case .missingContentLength:
            return 411
        case .noSuchBucket:
            return 404
        case .methodNotAllowed:
            return 405
        case .preconditionFailed:
            return 412
        case .notImplemented:
            return 501
        case .internalError:
            return 500
        case .badGateway:
            return 502
        case .serviceUnavailable:
            return 503
        case .gatewayTimeout:
            return 504
        }
    }
}

/// An error osp answers with, as S3 XML.
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: S3ErrorCode
    public var message: String

    public init(_ code: S3ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A request (or form) that carries no credentials: osp allows no anonymous access.
    public static let anonymousAccessDenied = S3Error(.accessDenied, "Anonymous access is not allowed")

    public var description: String { "\(code.rawValue): \(message)" }
}

extension S3Error {
    /// The message S3 itself uses; it never names the expected signature or the key.
    static let signatureMismatch = S3Error(
        .signatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )
}
