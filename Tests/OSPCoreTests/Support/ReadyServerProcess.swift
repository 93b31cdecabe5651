import Foundation
import Synchronization

/// A test server run as a child process that prints `READY <port>` once it listens (the
/// integration servers under `integration/`): started with a bounded wait for that line, stopped
/// with SIGTERM and then SIGKILL (children started from Swift-concurrency threads may ignore
/// SIGTERM), and always stopped by the test that started it.
final class ReadyServerProcess: Sendable {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    let port: Int
    private let process: Process

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    /// A path inside the repository.
    static func path(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent(relative).path
    }

    /// Whether `python3 -c code` succeeds (e.g. an import), checked by the caller once.
    static func pythonSucceeds(_ code: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", code]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return false
        }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Runs `python3 arguments…` and waits up to `timeout` for its `READY <port>` line.
    static func startPython(_ arguments: [String], name: String, timeout: Duration = .seconds(30)) throws -> ReadyServerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let received = ReceivedBytes()
        output.fileHandleForReading.readabilityHandler = { handle in
            received.append(handle.availableData)
        }
        try process.run()
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            if let line = received.firstLine() {
                output.fileHandleForReading.readabilityHandler = nil
                let parts = line.split(separator: " ")
                guard parts.count == 2, parts[0] == "READY", let port = Int(parts[1]) else {
                    kill(process)
                    throw ReadyServerError(message: "unexpected first line from \(name): \(line)")
                }
                return ReadyServerProcess(process: process, port: port)
            }
            guard process.isRunning else {
                throw ReadyServerError(message: "\(name) exited with status \(process.terminationStatus) before READY")
            }
            guard clock.now < deadline else {
                kill(process)
                throw ReadyServerError(message: "\(name) not READY within \(timeout)")
            }
            usleep(20_000)
        }
    }

    /// SIGTERM, up to 1 s to exit, then SIGKILL; idempotent.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<50 where process.isRunning {
            usleep(20_000)
        }
        Self.kill(process)
    }

    private static func kill(_ process: Process) {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }
}

struct ReadyServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

private final class ReceivedBytes: Sendable {
    private let bytes = Mutex<[UInt8]>([])

    func append(_ data: Data) {
        bytes.withLock { $0.append(contentsOf: data) }
    }

    func firstLine() -> String? {
        bytes.withLock { bytes in
            guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            return String(decoding: bytes[..<newline], as: UTF8.self)
        }
    }
}
