import CHiredis
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One blocking hiredis connection, owned by one thread-pool thread for that thread's lifetime
/// (it lives in a thread-specific slot of its `RedisClient`). It connects lazily, authenticates and
/// selects the database after every (re)connect, and throws itself away after any connection-level
/// error (a timed-out or broken hiredis context may still deliver a late reply, so it is never
/// reused): the next command simply connects again.
///
/// `@unchecked Sendable`: only the thread that created it touches it; the conformance only lets the
/// thread-specific slot live in a `Sendable` client.
final class RedisConnection: @unchecked Sendable {
    private var context: UnsafeMutablePointer<redisContext>?
    private let settings: RedisSettings
    private let onConnect: @Sendable () -> Void

    init(settings: RedisSettings, onConnect: @escaping @Sendable () -> Void) {
        self.settings = settings
        self.onConnect = onConnect
    }

    deinit {
        if let context { redisFree(context) }
    }

    var isConnected: Bool { context != nil }

    /// Runs `arguments` as one command, connecting first if needed. When `retryStaleConnection` is
    /// set and a connection kept from an earlier call turns out to be broken (the server restarted or
    /// closed an idle client), the command is sent once more on a fresh connection — only safe for
    /// commands that may run twice, such as reads.
    func run(_ arguments: [String], deadline: NIODeadline, retryStaleConnection: Bool) throws(RedisError) -> RedisReply {
        let reused = context != nil
        do {
            return try runOnce(arguments, deadline: deadline)
        } catch where error.kind == .connection && reused && retryStaleConnection {
            return try runOnce(arguments, deadline: deadline)
        }
    }

    private func runOnce(_ arguments: [String], deadline: NIODeadline) throws(RedisError) -> RedisReply {
        let context = try connectedContext(deadline: deadline)
        return try send(arguments, on: context, deadline: deadline)
    }

    // MARK: Connecting

    private func connectedContext(deadline: NIODeadline) throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        let timeout = try Self.remainingTime(until: deadline, doing: "connecting")
        guard let context = redisConnectWithTimeout(settings.host, Int32(settings.port), timeout) else {
            throw RedisError(.connection, "could not allocate a hiredis context")
        }
        if context.pointee.err != 0 {
            let error = Self.contextError(context, doing: "connecting to \(settings.host):\(settings.port)")
            redisFree(context)
            throw error
        }
        self.context = context
        onConnect()
        do {
            if let password = settings.password {
                var auth = ["AUTH"]
                if let username = settings.username { auth.append(username) }
                auth.append(password)
                _ = try send(auth, on: context, deadline: deadline, purpose: "AUTH")
            }
            if settings.database != 0 {
                _ = try send(["SELECT", String(settings.database)], on: context, deadline: deadline, purpose: "SELECT")
            }
        } catch {
            // A server that refuses AUTH or SELECT is a connection problem for the caller; the
            // server's own message says why (it never repeats the password).
            disconnect()
            throw error.kind == .server ? RedisError(.connection, error.detail) : error
        }
        return context
    }

    private func disconnect() {
        if let context {
            redisFree(context)
            self.context = nil
        }
    }

    // MARK: Commands

    /// `purpose` names the command in errors instead of its arguments (AUTH's are a secret).
    private func send(
        _ arguments: [String],
        on context: UnsafeMutablePointer<redisContext>,
        deadline: NIODeadline,
        purpose: String? = nil
    ) throws(RedisError) -> RedisReply {
        let name = purpose ?? arguments.first?.uppercased() ?? "command"
        let timeout = try Self.remainingTime(until: deadline, doing: name)
        guard redisSetTimeout(context, timeout) == REDIS_OK else {
            let error = Self.contextError(context, doing: "setting the timeout")
            disconnect()
            throw error
        }
        guard let reply = Self.commandArgv(context, arguments) else {
            let error = Self.contextError(context, doing: name)
            disconnect()
            throw error
        }
        defer { freeReplyObject(reply) }
        let value: RedisReply
        do {
            value = try Self.convert(reply)
        } catch {
            disconnect()
            throw error
        }
        if case .error(let message) = value {
            throw RedisError(.server, "\(name): \(message)")
        }
        return value
    }

    /// Lays the arguments out in one buffer and hands hiredis pointers and lengths: binary-safe,
    /// no format string, no variadic call.
    private static func commandArgv(_ context: UnsafeMutablePointer<redisContext>, _ arguments: [String]) -> UnsafeMutablePointer<redisReply>? {
        let total = arguments.reduce(0) { $0 + $1.utf8.count }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(total, 1))
        defer { buffer.deallocate() }
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        pointers.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        var offset = 0
        for argument in arguments {
            let start = buffer + offset
            for byte in argument.utf8 {
                buffer[offset] = CChar(bitPattern: byte)
                offset += 1
            }
            pointers.append(UnsafePointer(start))
            lengths.append(offset - (start - buffer))
        }
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { argvlen in
                osp_redis_command_argv(context, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
            }
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) throws(RedisError) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .string(text(value))
        case REDIS_REPLY_STATUS:
            return .status(text(value))
        case REDIS_REPLY_ERROR:
            return .error(text(value))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(value.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(Int(value.elements))
            for index in 0..<Int(value.elements) {
                guard let element = value.element[index] else {
                    throw RedisError(.protocol, "array reply with a missing element")
                }
                elements.append(try convert(element))
            }
            return .array(elements)
        default:
            throw RedisError(.protocol, "unknown reply type \(value.type)")
        }
    }

    private static func text(_ reply: redisReply) -> String {
        guard let pointer = reply.str, reply.len > 0 else { return "" }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: Int(reply.len))
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Errors and time

    /// What went wrong on `context`, classified: a socket timeout (`SO_RCVTIMEO` → EAGAIN, a
    /// connect poll → ETIMEDOUT) is a `timeout`; a parse error is `protocol`; the rest `connection`.
    private static func contextError(_ context: UnsafeMutablePointer<redisContext>, doing what: String) -> RedisError {
        let code = errno
        let message = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        switch context.pointee.err {
        case REDIS_ERR_PROTOCOL:
            return RedisError(.protocol, "\(what): \(message)")
        case REDIS_ERR_IO where code == EAGAIN || code == EWOULDBLOCK || code == ETIMEDOUT || code == EINPROGRESS,
            _ where message.contains("timed out") || message.contains("temporarily unavailable"):
            return RedisError(.timeout, "\(what): \(message.isEmpty ? "timed out" : message)")
        case REDIS_ERR_EOF:
            return RedisError(.connection, "\(what): the server closed the connection")
        default:
            return RedisError(.connection, "\(what): \(message.isEmpty ? "I/O error" : message)")
        }
    }

    private static func remainingTime(until deadline: NIODeadline, doing what: String) throws(RedisError) -> timeval {
        let nanoseconds = (deadline - NIODeadline.now()).nanoseconds
        // Socket timeouts have microsecond resolution; below one, the time is up.
        guard nanoseconds >= 1000 else {
            throw RedisError(.timeout, "deadline passed before \(what)")
        }
        let microseconds = nanoseconds / 1000
        return timeval(tv_sec: Int(microseconds / 1_000_000), tv_usec: Int(microseconds % 1_000_000))
    }
}
