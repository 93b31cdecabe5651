import S3Signing

/// The request bodies osp reads, bounded, before it decides the request, because the body says what
/// is asked: DeleteObjects names its keys there (each one is authorized), RestoreObject whether it
/// only restores its object or writes a SELECT's output elsewhere (`RestoreObjectRequest`), and
/// four bucket configurations the buckets the backend is to write into (`BucketDestinations`).
/// Every other body streams to the backend after the decision, unread.
package enum DecisionBody {
    case deleteObjects
    case restoreObject
    case bucketLogging
    case bucketReplication
    case bucketInventory
    case bucketAnalytics

    init?(operation: String) {
        switch operation {
        case "DeleteObjects": self = .deleteObjects
        case "RestoreObject": self = .restoreObject
        case "PutBucketLogging": self = .bucketLogging
        case "PutBucketReplication": self = .bucketReplication
        case "PutBucketInventoryConfiguration": self = .bucketInventory
        case "PutBucketAnalyticsConfiguration": self = .bucketAnalytics
        default: return nil
        }
    }

    var operation: String {
        switch self {
        case .deleteObjects: "DeleteObjects"
        case .restoreObject: "RestoreObject"
        case .bucketLogging: "PutBucketLogging"
        case .bucketReplication: "PutBucketReplication"
        case .bucketInventory: "PutBucketInventoryConfiguration"
        case .bucketAnalytics: "PutBucketAnalyticsConfiguration"
        }
    }

    /// A body naming buckets the backend writes into: read even under `allow-all`, whose clients
    /// may do anything with the buckets osp serves, but not have the backend write into others.
    var namesDestinations: Bool {
        switch self {
        case .deleteObjects, .restoreObject: false
        case .bucketLogging, .bucketReplication, .bucketInventory, .bucketAnalytics: true
        }
    }

    var maximumBytes: Int {
        switch self {
        case .deleteObjects: DeleteObjectsRequest.maximumBodyBytes
        case .restoreObject: RestoreObjectRequest.maximumBodyBytes
        case .bucketLogging, .bucketReplication, .bucketInventory, .bucketAnalytics: BucketDestinations.maximumBodyBytes
        }
    }

    package var tooLarge: S3Error {
        S3Error(.malformedXML, "The \(self.operation) request body is too large.")
    }
}
