import Logging
import NIOConcurrencyHelpers

@testable import OSPCore

/// A swift-log logger whose messages are kept in memory, one per line: the access log as a test sees it.
final class CapturedLines: Sendable {
    private let box = NIOLockedValueBox<[String]>([])

    var lines: [String] { box.withLockedValue { $0 } }

    var logger: Logger {
        let box = self.box
        return Logger(label: AccessLog.label) { _ in Handler(box: box) }
    }

    private struct Handler: LogHandler {
        let box: NIOLockedValueBox<[String]>
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            box.withLockedValue { $0.append(event.message.description) }
        }
    }
}
