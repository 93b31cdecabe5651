import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import OSPCore

/// `RedisClient` against a real `redis-server` started per test: reply types, AUTH (classic and ACL
/// user) with a database index, reconnecting by itself after the server restarts, and a hard
/// command timeout.
@Suite("RedisClient", .enabled(if: RedisTestServer.isAvailable, "redis-server is not installed"), .timeLimit(.minutes(1)))
struct RedisClientTests {
    @Test func commandsAnswerEveryReplyType() async throws {
        try await withRedis { (server, client, loop) async throws in
            #expect(try await client.command(["PING"], on: loop).get() == .status("PONG"))
            #expect(try await client.command(["SET", "osp:a", "héllo wörld"], on: loop).get() == .status("OK"))
            #expect(try await client.command(["GET", "osp:a"], on: loop).get() == .string("héllo wörld"))
            #expect(try await client.command(["GET", "osp:missing"], on: loop).get() == .null)
            #expect(try await client.command(["INCRBY", "osp:n", "41"], on: loop).get() == .integer(41))
            #expect(try await client.command(["INCR", "osp:n"], on: loop).get() == .integer(42))
            #expect(try await client.command(["MGET", "osp:a", "osp:missing", "osp:n"], on: loop).get()
                == .array([.string("héllo wörld"), .null, .string("42")]))
            // Arguments are binary-safe: spaces, quotes, %s, CR LF and empty strings arrive intact.
            let tricky = "a b \"c\" %s\r\nd"
            _ = try await client.command(["HSET", "osp:h", "f", tricky, "empty", ""], on: loop).get()
            let fields = try await client.command(["HGETALL", "osp:h"], on: loop).get().hashFields
            #expect(fields == ["f": tricky, "empty": ""])
            #expect(try await client.command(["HGETALL", "osp:nothing"], on: loop).get().hashFields == [:])
            // Another client (redis-cli) sees what this one wrote.
            #expect(try server.cli(["GET", "osp:a"]) == "héllo wörld")
            // A nested error reply stays a value; a top-level one fails the command.
            _ = try await client.command(["MULTI"], on: loop).get()
            _ = try await client.command(["INCR", "osp:a"], on: loop).get()
            let exec = try await client.command(["EXEC"], on: loop).get()
            guard case .array(let results) = exec, case .error(let message) = results.first else {
                Issue.record("EXEC answered \(exec)")
                return
            }
            #expect(message.hasPrefix("ERR"))
            let error = await redisError { try await client.command(["HGETALL", "osp:a"], on: loop).get() }
            #expect(error?.kind == .server)
            #expect(error?.detail.contains("WRONGTYPE") == true)
            // Still usable after a server error: it is not a connection problem.
            #expect(try await client.command(["PING"], on: loop).get() == .status("PONG"))
            #expect(client.connectionCount == 1)
        }
    }

    @Test func authenticatesAndSelectsTheDatabaseAfterConnecting() async throws {
        let password = "s3cret-\(UInt32.random(in: 0...UInt32.max))"
        let server = try RedisTestServer.start(password: password)
        defer { server.stop() }
        try server.cli(["ACL", "SETUSER", "osp", "on", ">osp-pass", "~*", "+@all"])
        try server.cli(["-n", "3", "SET", "osp:where", "db3"])

        try await withRedisClient(RedisSettings(port: server.port, password: password, database: 3)) { (client, loop) async throws in
            #expect(try await client.command(["GET", "osp:where"], on: loop).get() == .string("db3"))
        }
        try await withRedisClient(RedisSettings(port: server.port, password: "osp-pass", username: "osp", database: 3)) { (client, loop) async throws in
            #expect(try await client.command(["GET", "osp:where"], on: loop).get() == .string("db3"))
            #expect(try await client.command(["ACL", "WHOAMI"], on: loop).get() == .string("osp"))
        }
        try await withRedisClient(RedisSettings(port: server.port, password: password)) { (client, loop) async throws in
            #expect(try await client.command(["GET", "osp:where"], on: loop).get() == .null)
        }
        // Wrong or missing password: a connection error whose text never contains the password.
        try await withRedisClient(RedisSettings(port: server.port, password: "wrong-password")) { (client, loop) async throws in
            let error = await redisError { try await client.command(["GET", "osp:where"], on: loop).get() }
            #expect(error?.kind == .connection)
            #expect(error.map { !$0.detail.contains("wrong-password") && !"\($0)".contains("wrong-password") } == true)
        }
        try await withRedisClient(RedisSettings(port: server.port)) { (client, loop) async throws in
            let error = await redisError { try await client.command(["GET", "osp:where"], on: loop).get() }
            #expect(error?.kind == .server)
            #expect(error?.detail.contains("NOAUTH") == true)
        }
        // A database the server does not have: SELECT fails, so the connection does.
        try await withRedisClient(RedisSettings(port: server.port, password: password, database: 999)) { (client, loop) async throws in
            let error = await redisError { try await client.command(["PING"], on: loop).get() }
            #expect(error?.kind == .connection)
        }
    }

    @Test func reconnectsByItselfAfterTheServerRestarts() async throws {
        var server = try RedisTestServer.start()
        defer { server.stop() }
        try await withRedisClient(RedisSettings(port: server.port, password: nil)) { (client, loop) async throws in
            _ = try await client.command(["SET", "osp:k", "before"], on: loop).get()
            #expect(client.connectionCount == 1)

            let port = server.port
            server.stop()
            let down = await redisError { try await client.command(["GET", "osp:k"], on: loop).get() }
            #expect(down?.kind == .connection)
            // Still down: connecting is refused, again a connection error (also for reads that retry).
            let stillDown = await redisError { try await client.command(["GET", "osp:k"], idempotent: true, on: loop).get() }
            #expect(stillDown?.kind == .connection)

            server = try RedisTestServer.start(port: port)
            // The same client, no action from the caller: the next calls connect afresh.
            #expect(try await client.command(["GET", "osp:k"], on: loop).get() == .null)
            #expect(try await client.command(["SET", "osp:k", "after"], on: loop).get() == .status("OK"))
            #expect(try await client.command(["GET", "osp:k"], on: loop).get() == .string("after"))
            #expect(client.connectionCount == 2)
        }
    }

    @Test func readsRetryOnceWhenAKeptConnectionTurnsOutBroken() async throws {
        var server = try RedisTestServer.start()
        defer { server.stop() }
        try await withRedisClient(RedisSettings(port: server.port)) { (client, loop) async throws in
            #expect(try await client.command(["PING"], on: loop).get() == .status("PONG"))
            let port = server.port
            server.stop()
            server = try RedisTestServer.start(port: port)
            // The kept connection died with the old server; an idempotent read replaces it silently.
            #expect(try await client.command(["GET", "osp:k"], idempotent: true, on: loop).get() == .null)
            #expect(client.connectionCount == 2)
            // A non-idempotent command on a broken kept connection fails once, then reconnects.
            server.stop()
            server = try RedisTestServer.start(port: port)
            let error = await redisError { try await client.command(["INCR", "osp:n"], on: loop).get() }
            #expect(error?.kind == .connection)
            #expect(try await client.command(["INCR", "osp:n"], on: loop).get() == .integer(1))
        }
    }

    @Test func aStalledServerTimesOutWithinTheLimit() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try await withRedisClient(RedisSettings(port: server.port, timeoutMilliseconds: 200)) { (client, loop) async throws in
            #expect(try await client.command(["PING"], on: loop).get() == .status("PONG"))
            // Another connection pauses every client for 2.5 s.
            try server.cli(["CLIENT", "PAUSE", "2500", "ALL"])
            // Timed on the event loop: test threads may be busy with other tests' processes.
            let started = NIODeadline.now()
            let finished = NIOLockedValueBox<NIODeadline?>(nil)
            let future = client.command(["GET", "osp:k"], idempotent: true, on: loop)
            future.whenComplete { _ in finished.withLockedValue { $0 = .now() } }
            let error = await redisError { try await future.get() }
            let elapsed = try #require(finished.withLockedValue { $0 }) - started
            #expect(error?.kind == .timeout)
            #expect(elapsed < .milliseconds(1000), "timed out after \(elapsed)")
            #expect(elapsed >= .milliseconds(150), "timed out after \(elapsed)")
            // Once the pause is over, the client works again on a fresh connection.
            try await Task.sleep(for: .milliseconds(2600))
            #expect(try await client.command(["PING"], on: loop).get() == .status("PONG"))
            #expect(client.connectionCount == 2)
        }
    }

    @Test func connectingToNothingIsAConnectionError() async throws {
        let port = try RedisTestServer.freePort()
        try await withRedisClient(RedisSettings(port: port)) { (client, loop) async throws in
            let error = await redisError { try await client.command(["PING"], on: loop).get() }
            #expect(error?.kind == .connection)
        }
    }

    @Test func aStoppedThreadPoolIsAConnectionError() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 1)
        let client = RedisClient(settings: RedisSettings(port: 1), threadPool: pool)
        let error = await redisError { try await client.command(["PING"], on: group.next()).get() }
        #expect(error?.kind == .connection)
        try await group.shutdownGracefully()
    }
}

// MARK: Fixtures

func redisError<T>(_ operation: () async throws -> T) async -> RedisError? {
    do {
        _ = try await operation()
        return nil
    } catch let error as RedisError {
        return error
    } catch {
        Issue.record("expected a RedisError, got \(error)")
        return nil
    }
}

/// A started event loop and a one-thread pool for `settings`, shut down afterwards. One pool thread
/// makes "which connection serves the next call" deterministic.
func withRedisClient(
    _ settings: RedisSettings,
    _ body: (RedisClient, any EventLoop) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let pool = NIOThreadPool(numberOfThreads: 1)
    pool.start()
    do {
        try await body(RedisClient(settings: settings, threadPool: pool), group.next())
    } catch {
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
        throw error
    }
    try await pool.shutdownGracefully()
    try await group.shutdownGracefully()
}

/// A fresh `redis-server` and a client for it.
func withRedis(
    password: String? = nil,
    _ body: (RedisTestServer, RedisClient, any EventLoop) async throws -> Void
) async throws {
    let server = try RedisTestServer.start(password: password)
    defer { server.stop() }
    try await withRedisClient(RedisSettings(port: server.port, password: password)) { (client, loop) async throws in
        try await body(server, client, loop)
    }
}

/// A throwaway `redis-server` (no persistence, loopback only) as a child process on a free port:
/// started with a bounded wait until it answers, always stopped with SIGKILL (children started from
/// Swift concurrency threads may ignore SIGTERM, and there is nothing to save).
final class RedisTestServer: @unchecked Sendable {
    static let executable = "/usr/bin/redis-server"
    static let cliExecutable = "/usr/bin/redis-cli"
    static let isAvailable = FileManager.default.isExecutableFile(atPath: executable)
        && FileManager.default.isExecutableFile(atPath: cliExecutable)

    let port: Int
    let password: String?
    private let process: Process

    private init(process: Process, port: Int, password: String?) {
        self.process = process
        self.port = port
        self.password = password
    }

    deinit { stop() }

    /// `redis-server --port 0` does not pick a port: bind one, read it back, let it go.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RedisTestServerError(message: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else { throw RedisTestServerError(message: "bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func start(port: Int? = nil, password: String? = nil, timeout: Duration = .seconds(10)) throws -> RedisTestServer {
        let port = try port ?? freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        var arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", NSTemporaryDirectory(), "--loglevel", "warning",
        ]
        if let password { arguments += ["--requirepass", password] }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let server = RedisTestServer(process: process, port: port, password: password)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            if server.answersPing() { return server }
            guard process.isRunning else {
                throw RedisTestServerError(message: "redis-server exited with status \(process.terminationStatus) (port \(port) taken?)")
            }
            guard clock.now < deadline else {
                server.stop()
                throw RedisTestServerError(message: "redis-server did not answer PING within \(timeout)")
            }
            usleep(20_000)
        }
    }

    private func answersPing() -> Bool {
        (try? cli(["PING"])) == "PONG"
    }

    /// Runs `redis-cli` against this server (authenticated) and returns its trimmed output.
    @discardableResult
    func cli(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.cliExecutable)
        var all = ["-h", "127.0.0.1", "-p", "\(port)"]
        if let password { all += ["--no-auth-warning", "-a", password] }
        process.arguments = all + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw RedisTestServerError(message: "redis-cli \(arguments.first ?? "") exited with \(process.terminationStatus)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("ERR") || text.hasPrefix("NOAUTH") || text.hasPrefix("WRONGPASS") {
            throw RedisTestServerError(message: "redis-cli \(arguments.first ?? ""): \(text)")
        }
        return text
    }

    /// SIGKILL and wait; idempotent.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }
}

struct RedisTestServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
