import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A small blocking Redis client for osp's secret, grant and credential lookups, built on hiredis
/// and run on a `NIOThreadPool` so no event loop ever waits for Redis.
///
/// Each pool thread keeps one connection, opened on first use and opened again after any error, so
/// a Redis restart needs no action from osp. After every (re)connect it sends `AUTH` and `SELECT` as
/// configured. Every call has a hard deadline (`timeout_ms`) that covers the wait for a free pool
/// thread, connecting and the command. Commands go through `redisCommandArgv` only: arguments are
/// binary-safe and never interpreted as a format string.
public final class RedisClient: Sendable {
    public let settings: RedisSettings
    private let threadPool: NIOThreadPool
    private let connections = ThreadSpecificVariable<RedisConnection>()
    private let connectionsOpened = NIOLockedValueBox(0)
    /// Where each command's latency and failure kind are counted (backend `redis`).
    private let metrics: CalloutMetrics?

    /// `threadPool` must be started by the caller; calls made while it is not running fail with a
    /// `connection` error.
    public init(settings: RedisSettings, threadPool: NIOThreadPool, metrics: CalloutMetrics? = nil) {
        self.settings = settings
        self.threadPool = threadPool
        self.metrics = metrics
    }

    /// Runs one command (`["HGETALL", "osp:key:AK"]`) and answers on `eventLoop`. A top-level error
    /// reply fails the future with `RedisError.Kind.server`.
    ///
    /// - Parameter idempotent: the command may safely run twice (reads). Then a connection kept from
    ///   an earlier call that turns out to be broken is replaced and the command sent once more, so
    ///   the first request after a Redis restart does not fail; otherwise that one call fails with a
    ///   `connection` error and the next one reconnects.
    public func command(_ arguments: [String], idempotent: Bool = false, on eventLoop: any EventLoop) -> EventLoopFuture<RedisReply> {
        guard !arguments.isEmpty else {
            return eventLoop.makeFailedFuture(RedisError(.protocol, "empty command"))
        }
        let started = NIODeadline.now()
        let deadline = started + .milliseconds(Int64(settings.timeoutMilliseconds))
        let reply = threadPool.runIfActive(eventLoop: eventLoop) { () throws -> RedisReply in
            try self.connectionForCurrentThread().run(arguments, deadline: deadline, retryStaleConnection: idempotent)
        }.flatMapErrorThrowing { error in
            if error is RedisError { throw error }
            if error is NIOThreadPoolError.ThreadPoolInactive {
                throw RedisError(.connection, "the Redis thread pool is not running")
            }
            throw RedisError(.connection, "\(type(of: error))")
        }
        if let metrics = self.metrics {
            reply.whenComplete { result in
                metrics.record(nanoseconds: (NIODeadline.now() - started).nanoseconds)
                if case .failure(let error) = result {
                    metrics.failed(kind: (error as? RedisError)?.kind.rawValue ?? "connection")
                }
            }
        }
        return reply
    }

    /// How many connections this client has opened so far (one per pool thread, plus reconnects).
    public var connectionCount: Int { connectionsOpened.withLockedValue { $0 } }

    private func connectionForCurrentThread() -> RedisConnection {
        if let connection = connections.currentValue {
            return connection
        }
        let counter = connectionsOpened
        let connection = RedisConnection(settings: settings, onConnect: { counter.withLockedValue { $0 += 1 } })
        connections.currentValue = connection
        return connection
    }
}
