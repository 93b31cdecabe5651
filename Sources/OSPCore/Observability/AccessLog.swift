#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import NIOCore
import NIOConcurrencyHelpers

/// The access log: one JSON object per finished S3 request, through a swift-log `Logger` labelled
/// `osp.access`, so it can be routed like any other log — but kept apart from the process log, whose
/// lines are for people, while these are for machines (one parseable record per line, every field
/// present).
public struct AccessLog: Sendable {
    public static let label = "osp.access"

    /// nil: the access log is off.
    let logger: Logger?
    /// The asynchronous writer behind `open`'s destinations (nil for a caller's own logger).
    private let writer: LineWriter?

    /// Any swift-log logger; its handler receives the JSON line as the message, without metadata.
    public init(logger: Logger?) {
        self.init(logger: logger, writer: nil)
    }

    private init(logger: Logger?, writer: LineWriter?) {
        self.logger = logger
        self.writer = writer
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
        return AccessLog(logger: Logger(label: label) { _ in JSONLineLogHandler(writer: writer) }, writer: writer)
    }

    var isEnabled: Bool { logger != nil }

    /// Waits (bounded) until the records written so far reached their destination: at shutdown.
    public func flush() {
        writer?.flush()
    }

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

/// Writes whole lines to a file descriptor without ever making an event loop wait for it: `write`
/// appends the line to a bounded in-memory batch (one short lock), and one writer thread hands the
/// batches to `write(2)`. A destination that is slow or stuck (a full pipe, a slow disk) costs memory
/// up to `maxBufferedBytes`, then lines are dropped and counted (`droppedLines`) — the access log
/// loses lines rather than the gateway losing throughput. Lines never interleave. `flush()` and
/// deinit wait (bounded) until what was written reached the descriptor.
final class LineWriter: Sendable {
    private let core: LineWriterCore

    init(fileDescriptor: Int32, closeOnDeinit: Bool, maxBufferedBytes: Int = 8 << 20) {
        self.core = LineWriterCore(fileDescriptor: fileDescriptor, closeWhenDone: closeOnDeinit, maxBufferedBytes: maxBufferedBytes)
        let core = self.core
        let thread = Thread { core.drainUntilClosed() }
        thread.name = "osp-access-log"
        thread.start()
    }

    deinit {
        core.close()
    }

    /// Lines dropped because the destination fell `maxBufferedBytes` behind.
    var droppedLines: Int { core.droppedLines }

    func write(line: String) { core.append(line) }

    /// Waits (at most 5 s) until every line written before the call reached the descriptor.
    func flush() { core.flush() }
}

/// The state `LineWriter`'s thread shares with the event loops (separate, so the thread does not keep
/// the writer alive and the writer's deinit can stop it).
private final class LineWriterCore: Sendable {
    private struct Pending {
        var bytes: [UInt8] = []
        /// Bytes taken by the thread and not yet written.
        var writing = false
        var closed = false
        var finished = false
    }

    private let fileDescriptor: Int32
    private let closeWhenDone: Bool
    private let maxBufferedBytes: Int
    private let pending = NIOLockedValueBox(Pending())
    /// 1 while there is something for the thread to do.
    private let signal = ConditionLock(value: 0)
    /// Counted by the caller that drops, not by the thread: while the destination is stuck the
    /// thread sits in `write`, and that is exactly when the count must be seen.
    private let dropCount = NIOLockedValueBox(0)

    init(fileDescriptor: Int32, closeWhenDone: Bool, maxBufferedBytes: Int) {
        self.fileDescriptor = fileDescriptor
        self.closeWhenDone = closeWhenDone
        self.maxBufferedBytes = maxBufferedBytes
    }

    var droppedLines: Int { dropCount.withLockedValue { $0 } }

    func append(_ line: String) {
        let accepted = pending.withLockedValue { state -> Bool in
            guard !state.closed, state.bytes.count + line.utf8.count < maxBufferedBytes else {
                return false
            }
            state.bytes.append(contentsOf: line.utf8)
            state.bytes.append(UInt8(ascii: "\n"))
            return true
        }
        if accepted {
            wake()
        } else {
            dropCount.withLockedValue { $0 += 1 }
        }
    }

    func flush() {
        wait { $0.bytes.isEmpty && !$0.writing }
    }

    func close() {
        pending.withLockedValue { $0.closed = true }
        wake()
        wait { $0.finished }
    }

    private func wake() {
        signal.lock()
        signal.unlock(withValue: 1)
    }

    /// Polls `done` every millisecond for at most 5 s (shutdown and tests only).
    private func wait(until done: (Pending) -> Bool) {
        let deadline = NIODeadline.now() + .seconds(5)
        while NIODeadline.now() < deadline, !pending.withLockedValue({ done($0) }) {
            wake()
            usleep(1000)
        }
    }

    func drainUntilClosed() {
        while true {
            if signal.lock(whenValue: 1, timeoutSeconds: 1) { signal.unlock(withValue: 0) }
            var (bytes, closed) = pending.withLockedValue { state -> ([UInt8], Bool) in
                let taken = (state.bytes, state.closed)
                state.bytes = []
                state.writing = !taken.0.isEmpty
                return taken
            }
            if !bytes.isEmpty {
                writeAll(&bytes)
                pending.withLockedValue { $0.writing = false }
            }
            if closed {
                if closeWhenDone { _ = closeDescriptor(fileDescriptor) }
                pending.withLockedValue { $0.finished = true }
                return
            }
        }
    }

    private func writeAll(_ bytes: inout [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            var rounds = 0
            // Bounded: a destination that keeps refusing loses the batch, never the thread.
            while offset < buffer.count && rounds < 1024 {
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

// File-scope wrappers: inside the types above, `open` and `write` name their own members.
private func openForAppending(_ path: String) -> Int32 {
    open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
}

private func closeDescriptor(_ fd: Int32) -> Int32 {
    close(fd)
}

private func writeBytes(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}
