import NIOCore
import Synchronization

/// The one cache behind client secrets, policy decisions, backend credentials and IAM tokens: each
/// of those is a remote lookup osp must not repeat per request, and must never repeat per request
/// *at once* when a popular key expires.
///
/// - Lock striping: keys spread over a power-of-two number of shards (`hashValue & mask`), each
///   with its own lock, so event loops rarely wait for each other.
/// - Expiry: every entry carries an absolute deadline on an injectable `CacheClock`.
/// - Bounded: `capacity` is split evenly across the shards; a full shard first drops its expired
///   entries, then its least recently used one. LRU rather than oldest-inserted, because the keys
///   here are skewed (a few principals and buckets make most requests): FIFO would periodically evict
///   the hottest decision or secret and send its traffic to the backend, while LRU keeps it and lets
///   the TTL alone decide when it is refreshed. Keeping the order costs a few integer writes per hit.
///   Striping means one shard can fill while others have room: the bound is per shard.
/// - Single-flight: concurrent misses for one key share one `load`; a failed load fails all of
///   them and is never cached. Results are cached for a TTL chosen per result, so negative answers
///   (an unknown access key, a deny) can live shorter than positive ones.
///
/// Keys must hold everything the answer depends on: the cache cannot know that a decision for one
/// bucket does not hold for another. `description` never lists keys or values (they may be secrets).
public final class ShardedTTLCache<Key: Hashable & Sendable, Value: Sendable>: Sendable, CustomStringConvertible {
    private final class LockedShard: Sendable {
        let state: Mutex<CacheShard<Key, Value>>

        init(capacity: Int) {
            self.state = Mutex(CacheShard(capacity: capacity))
        }
    }

    public let name: String
    /// The most entries held at once, over all shards.
    public let capacity: Int
    private let shards: [LockedShard]
    private let mask: Int
    private let clock: CacheClock

    /// - Parameters:
    ///   - capacity: total entries; 0 caches nothing but still merges concurrent loads.
    ///   - shards: rounded down to a power of two, and to no more shards than `capacity`.
    public init(name: String, capacity: Int, shards: Int = 16, clock: CacheClock = .system) {
        precondition(capacity >= 0, "ShardedTTLCache capacity must not be negative")
        let limit = max(1, min(shards, capacity))
        var shardCount = 1
        while shardCount * 2 <= limit {
            shardCount *= 2
        }
        let base = capacity / shardCount
        let extra = capacity % shardCount
        self.name = name
        self.capacity = capacity
        self.shards = (0..<shardCount).map { LockedShard(capacity: base + ($0 < extra ? 1 : 0)) }
        self.mask = shardCount - 1
        self.clock = clock
    }

    /// The number of lock stripes.
    public var shardCount: Int { shards.count }

    @inline(__always)
    private func shard(for key: Key) -> LockedShard {
        shards[key.hashValue & mask]
    }

    // MARK: Plain access

    /// The value for `key`, or nil if absent or expired.
    public func value(forKey key: Key) -> Value? {
        let now = clock.now()
        return shard(for: key).state.withLock { $0.value(forKey: key, now: now) }
    }

    /// The value for `key` if it is cached: a synchronous fast path in front of
    /// `value(forKey:on:ttl:load:)`, so a miss is left for that lookup to count.
    public func cachedValue(forKey key: Key) -> Value? {
        self.cachedEntry(forKey: key)?.value
    }

    /// `cachedValue(forKey:)` with the deadline the value is fresh until, for a caller that keeps
    /// a copy of it (no later than that).
    public func cachedEntry(forKey key: Key) -> (value: Value, deadline: NIODeadline)? {
        let now = clock.now()
        return shard(for: key).state.withLock { $0.entry(forKey: key, now: now, countingMiss: false) }
    }

    /// Stores `value` for `ttl`; a zero or negative `ttl` removes `key` instead. A load in flight for
    /// `key` still answers its waiters, but its result no longer replaces this value.
    public func set(_ value: Value, forKey key: Key, ttl: TimeAmount) {
        let now = clock.now()
        shard(for: key).state.withLock { $0.set(value, forKey: key, ttl: ttl, now: now) }
    }

    /// Drops `key`. A load in flight for it still answers its waiters, but its result is not cached
    /// (it may predate whatever made the caller invalidate), and the next lookup loads afresh.
    public func remove(_ key: Key) {
        shard(for: key).state.withLock { $0.remove(key) }
    }

    /// Drops everything, with the same effect on loads in flight as `remove`.
    public func removeAll() {
        for shard in shards {
            shard.state.withLock { $0.removeAll() }
        }
    }

    // MARK: Single-flight

    /// Single-flight lookup: a hit answers at once; concurrent misses for one key (from any event loop)
    /// wait for ONE `load`; the result is cached for `ttl(result)` (nil → not cached). A failed load is
    /// never cached as a success: it fails every waiter and the next call loads again.
    ///
    /// The returned future completes on `eventLoop`. `load` runs on the caller's thread, outside any
    /// lock, so it may use the cache itself; it must not block (hand blocking work to a thread pool).
    public func value(
        forKey key: Key,
        on eventLoop: any EventLoop,
        ttl: @escaping @Sendable (Value) -> TimeAmount?,
        load: @escaping @Sendable () -> EventLoopFuture<Value>
    ) -> EventLoopFuture<Value> {
        let now = clock.now()
        let lookup = shard(for: key).state.withLock { $0.lookup(key, now: now, on: eventLoop) }
        switch lookup {
        case .hit(let value):
            return eventLoop.makeSucceededFuture(value)
        case .join(let future):
            return future.hop(to: eventLoop)
        case .load(let promise, let flightID):
            load().whenComplete { result in
                // The TTL closure is the caller's code: never run it under the shard lock.
                let lifetime: TimeAmount?
                if case .success(let value) = result {
                    lifetime = ttl(value)
                } else {
                    lifetime = nil
                }
                let now = self.clock.now()
                self.shard(for: key).state.withLock {
                    $0.finishLoad(key, flightID: flightID, result: result, ttl: lifetime, now: now)
                }
                // Outside the lock: completing runs the waiters' callbacks, which may use the cache.
                promise.completeWith(result)
            }
            return promise.futureResult
        }
    }

    /// Single-flight lookup with one TTL for every result.
    public func value(
        forKey key: Key,
        on eventLoop: any EventLoop,
        ttl: TimeAmount,
        load: @escaping @Sendable () -> EventLoopFuture<Value>
    ) -> EventLoopFuture<Value> {
        value(forKey: key, on: eventLoop, ttl: { _ in ttl }, load: load)
    }

    // MARK: Introspection

    /// Counters summed over all shards (each shard read under its lock, one after another).
    public var statistics: CacheStatistics {
        shards.reduce(CacheStatistics()) { sum, shard in
            sum + shard.state.withLock { $0.statistics }
        }
    }

    public var description: String {
        "ShardedTTLCache(name: \(name), capacity: \(capacity), shards: \(shards.count), \(statistics))"
    }
}
