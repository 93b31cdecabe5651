#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOConcurrencyHelpers

/// The access log: one JSON object per finished S3 request, through a swift-log `Logger` labelled
/// `osp.access`, so it can be routed like any other log — but kept apart from the process log, whose
/// lines are for people, while these are for machines (one parseable record per line, every field
/// present).
public struct AccessLog: Sendable {
    public static let label = "osp.access"

    /// nil: the access log is off.
    let logger: Logger?

    /// Any swift-log logger; its handler receives the JSON line as the message, without metadata.
    public init(logger: Logger?) {
        self.logger = logger
    }

    public static let off = AccessLog(logger: nil)

    /// The access log the config asks for: stdout, a file (appended to, created if missing), or off.
    public static func open(_ destination: AccessLogDestination) throws(ConfigError) -> AccessLog {
        let writer: LineWriter
        switch destination {
        case .off:
            return .off
        case .stdout:
            writer = LineWriter(fileDescriptor: STDOUT_FILENO, closeOnDeinit: false)
        case .file(let path):
            let fd = openForAppending(path)
            guard fd >= 0 else {
                throw ConfigError(path: "logging.access_log", message: "cannot open '\(path)' for appending (errno \(errno))")
            }
            writer = LineWriter(fileDescriptor: fd, closeOnDeinit: true)
        }
        return AccessLog(logger: Logger(label: label) { _ in JSONLineLogHandler(writer: writer) })
    }

    var isEnabled: Bool { logger != nil }

    func write(_ record: AccessLogRecord) {
        logger?.info(Logger.Message(stringLiteral: record.json))
    }
}

/// A swift-log handler that writes each message as one line, verbatim: the access log's records are
/// already JSON, so level, label and metadata would only get in the way of parsing.
struct JSONLineLogHandler: LogHandler {
    let writer: LineWriter
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        writer.write(line: event.message.description)
    }
}

/// Writes whole lines to a file descriptor, one `write(2)` per line under a lock: lines from different
/// event loops never interleave, and a line is in the file (or pipe) when `write` returns, with no
/// buffer to lose on a crash.
final class LineWriter: Sendable {
    private let fileDescriptor: Int32
    private let closeOnDeinit: Bool
    private let lock = NIOLock()

    init(fileDescriptor: Int32, closeOnDeinit: Bool) {
        self.fileDescriptor = fileDescriptor
        self.closeOnDeinit = closeOnDeinit
    }

    deinit {
        if closeOnDeinit { _ = close(fileDescriptor) }
    }

    func write(line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        lock.withLock {
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                var rounds = 0
                // Bounded: a destination that keeps refusing loses the line rather than the event loop.
                while offset < buffer.count && rounds < 64 {
                    rounds += 1
                    let written = writeBytes(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
        }
    }
}

// File-scope wrappers: inside the types above, `open` and `write` name their own members.
private func openForAppending(_ path: String) -> Int32 {
    open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
}

private func writeBytes(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}
