import Foundation
import Testing

@testable import OSPCore

/// Parses one access-log line the way a log pipeline would.
private func parse(_ line: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
    return try #require(object as? [String: Any])
}

private func quoted(_ value: String) -> String {
    var out: [UInt8] = []
    JSONText.appendString(value, to: &out)
    return String(decoding: out, as: UTF8.self)
}

@Suite("Access log: JSON escaping")
struct JSONTextTests {
    @Test("quotes, backslashes and control characters are escaped", arguments: [
        ("plain", #""plain""#),
        (#"a"b"#, #""a\"b""#),
        (#"back\slash"#, #""back\\slash""#),
        ("line\nbreak\r\ttab", #""line\nbreak\r\ttab""#),
        ("nul\u{0}bell\u{7}esc\u{1B}del\u{7F}", #""nul\u0000bell\u0007esc\u001bdel\u007f""#),
        ("ünïcödé ✓ 🪣", "\"ünïcödé ✓ 🪣\""),
    ])
    func escapes(input: String, expected: String) throws {
        #expect(quoted(input) == expected)
        // And it is JSON that reads back to the same string.
        let decoded = try JSONSerialization.jsonObject(with: Data(quoted(input).utf8), options: [.fragmentsAllowed]) as? String
        #expect(decoded == input)
    }

    @Test("every byte value below 0x20 survives a round trip and stays on one line")
    func allControlCharacters() throws {
        let input = String(decoding: (0..<0x20).map { UInt8($0) } + Array("end".utf8), as: UTF8.self)
        let text = quoted(input)
        #expect(!text.utf8.contains(where: { $0 < 0x20 }))
        let decoded = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? String
        #expect(decoded == input)
    }

    @Test("integers and fixed-point milliseconds", arguments: [
        (0, "0", "0.000"), (7, "7", "0.007"), (1234, "1234", "1.234"),
        (-5, "-5", "-0.005"), (Int.max, "\(Int.max)", "9223372036854775.807"),
    ])
    func numbers(value: Int, integer: String, fixed: String) {
        var out: [UInt8] = []
        JSONText.appendInteger(value, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == integer)
        out.removeAll()
        JSONText.appendFixedPoint(value, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == fixed)
    }

    @Test("Int.min is written, not trapped on")
    func minimumInteger() {
        var out: [UInt8] = []
        JSONText.appendInteger(Int.min, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "\(Int.min)")
    }
}

@Suite("Access log: timestamps")
struct LogTimestampTests {
    @Test("RFC 3339 in UTC with milliseconds", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (Int64(1_700_000_000_123), "2023-11-14T22:13:20.123Z"),
        (Int64(1_709_164_799_999), "2024-02-28T23:59:59.999Z"),
        (Int64(1_709_164_800_000), "2024-02-29T00:00:00.000Z"),
        (Int64(4_102_444_800_007), "2100-01-01T00:00:00.007Z"),
        (Int64(-1), "1969-12-31T23:59:59.999Z"),
    ])
    func formats(milliseconds: Int64, expected: String) {
        #expect(LogTimestamp(millisecondsSinceEpoch: milliseconds).rfc3339 == expected)
    }

    @Test("now() agrees with Foundation's clock to the second")
    func now() {
        let ours = LogTimestamp.now().millisecondsSinceEpoch
        let foundation = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(abs(ours - foundation) < 2000)
    }
}

@Suite("Access log: records")
struct AccessLogRecordTests {
    @Test("a full record is one JSON object with every field")
    func fullRecord() throws {
        let record = AccessLogRecord(
            time: LogTimestamp(millisecondsSinceEpoch: 1_700_000_000_123),
            requestID: "0123456789ABCDEF",
            remote: "127.0.0.1",
            method: "PUT",
            action: "s3:PutObject",
            bucket: "proxy-bucket01",
            key: "dir/\"quoted\"\nkey with spaces/ü.txt",
            status: 200,
            bytesIn: 1024,
            bytesOut: 0,
            durationMicroseconds: 12_345,
            principal: "alice",
            decision: .allow,
            reason: nil,
            upstreamStatus: 200,
            errorCode: nil
        )
        let line = record.json
        #expect(!line.contains("\n"))
        let fields = try parse(line)
        #expect(fields["time"] as? String == "2023-11-14T22:13:20.123Z")
        #expect(fields["request_id"] as? String == "0123456789ABCDEF")
        #expect(fields["remote"] as? String == "127.0.0.1")
        #expect(fields["method"] as? String == "PUT")
        #expect(fields["action"] as? String == "s3:PutObject")
        #expect(fields["bucket"] as? String == "proxy-bucket01")
        #expect(fields["key"] as? String == "dir/\"quoted\"\nkey with spaces/ü.txt")
        #expect(fields["status"] as? Int == 200)
        #expect(fields["bytes_in"] as? Int == 1024)
        #expect(fields["bytes_out"] as? Int == 0)
        #expect((fields["duration_ms"] as? Double).map { abs($0 - 12.345) < 0.0001 } == true)
        #expect(fields["principal"] as? String == "alice")
        #expect(fields["decision"] as? String == "allow")
        #expect(fields["reason"] is NSNull)
        #expect(fields["upstream_status"] as? Int == 200)
        #expect(fields["error_code"] is NSNull)
        #expect(fields.count == 16)
    }

    @Test("a refused request: no route, no principal, absent values are null")
    func refusedRecord() throws {
        let record = AccessLogRecord(
            time: LogTimestamp(millisecondsSinceEpoch: 0), requestID: "R", method: "GET", status: 403,
            bytesOut: 250, decision: .none, errorCode: "SignatureDoesNotMatch"
        )
        let fields = try parse(record.json)
        for name in ["remote", "action", "bucket", "key", "principal", "reason", "upstream_status"] {
            #expect(fields[name] is NSNull, "\(name)")
        }
        #expect(fields["decision"] as? String == "none")
        #expect(fields["error_code"] as? String == "SignatureDoesNotMatch")
    }

    @Test("the access log writes each record through its swift-log handler as one line")
    func writesThroughLogger() throws {
        let lines = CapturedLines()
        let log = AccessLog(logger: lines.logger)
        log.write(AccessLogRecord(time: LogTimestamp(millisecondsSinceEpoch: 0), requestID: "A", method: "GET"))
        log.write(AccessLogRecord(time: LogTimestamp(millisecondsSinceEpoch: 1), requestID: "B", method: "HEAD"))
        let captured = lines.lines
        #expect(captured.count == 2)
        #expect(try captured.map { try parse($0)["request_id"] as? String } == ["A", "B"])
    }

    @Test("a file destination appends one line per record")
    func fileDestination() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("osp-access-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let log = try AccessLog.open(.file(path))
            log.write(AccessLogRecord(time: LogTimestamp(millisecondsSinceEpoch: 0), requestID: "F1", method: "GET", key: "a\nb"))
            log.write(AccessLogRecord(time: LogTimestamp(millisecondsSinceEpoch: 0), requestID: "F2", method: "GET"))
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(try parse(String(lines[0]))["key"] as? String == "a\nb")
    }

    @Test("writing never waits for the destination: a stuck pipe costs bounded memory, then drops lines")
    func stuckDestination() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let writer = LineWriter(fileDescriptor: fds[1], closeOnDeinit: true, maxBufferedBytes: 64 * 1024)
        let line = String(repeating: "x", count: 1000)
        let started = ContinuousClock.now
        // Nobody reads the pipe: it fills (64 KiB), then the writer's buffer does (64 KiB), then lines drop.
        for _ in 0..<1000 { writer.write(line: line) }
        #expect(ContinuousClock.now - started < .seconds(1), "the caller never blocked on the full pipe")
        var dropped = 0
        for _ in 0..<50 where dropped == 0 {
            usleep(20_000)
            writer.write(line: line)
            dropped = writer.droppedLines
        }
        #expect(dropped > 0)
        // Draining the pipe lets the writer catch up; it delivers whole lines.
        var buffer = [UInt8](repeating: 0, count: 4096)
        let got = read(fds[0], &buffer, buffer.count)
        #expect(got > 0 && buffer[..<got].allSatisfy { $0 == UInt8(ascii: "x") || $0 == UInt8(ascii: "\n") })
    }

    @Test("an access log file that cannot be opened is a config error naming the key")
    func unopenableFile() {
        #expect(throws: ConfigError.self) { try AccessLog.open(.file("/nonexistent-dir-for-osp/access.log")) }
    }
}
