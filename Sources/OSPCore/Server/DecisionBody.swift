import S3Signing

/// The request bodies osp reads, bounded, before it decides the request, because the body says what
/// is asked: DeleteObjects names its keys there (each one is authorized), RestoreObject whether it
/// only restores its object or writes a SELECT's output elsewhere (`RestoreObjectRequest`). Every
/// other body streams to the backend after the decision, unread.
enum DecisionBody {
    case deleteObjects
    case restoreObject

    init?(operation: String) {
        switch operation {
        case "DeleteObjects": self = .deleteObjects
        case "RestoreObject": self = .restoreObject
        default: return nil
        }
    }

    var operation: String {
        switch self {
        case .deleteObjects: "DeleteObjects"
        case .restoreObject: "RestoreObject"
        }
    }

    var maximumBytes: Int {
        switch self {
        case .deleteObjects: DeleteObjectsRequest.maximumBodyBytes
        case .restoreObject: RestoreObjectRequest.maximumBodyBytes
        }
    }

    var tooLarge: S3Error {
        S3Error(.malformedXML, "The \(self.operation) request body is too large.")
    }
}
