import NIOCore

/// One stripe of a `ShardedTTLCache`: its entries in least-recently-used order, the loads in flight
/// for its keys and its counters. A plain value, always used under its stripe's lock.
///
/// Entries live densely in an array and are chained from most to least recently used by index, so a
/// hit only rewrites a few integers and removal swaps the last entry into the hole: no allocation
/// after the arrays have grown, no per-entry objects.
struct CacheShard<Key: Hashable & Sendable, Value: Sendable> {
    private struct Entry {
        var key: Key
        var value: Value
        var deadline: NIODeadline
        /// Neighbour towards the most recently used end, or `none`.
        var newer: Int
        /// Neighbour towards the least recently used end, or `none`.
        var older: Int
    }

    /// A load in flight. `id` tells a load's completion apart from a newer load for the same key
    /// started after `remove`/`removeAll`/`set` detached this one.
    struct Flight {
        var id: UInt64
        var promise: EventLoopPromise<Value>
    }

    enum Lookup {
        case hit(Value)
        case join(EventLoopFuture<Value>)
        case load(EventLoopPromise<Value>, flightID: UInt64)
    }

    private static var none: Int { -1 }

    let capacity: Int
    private var index: [Key: Int] = [:]
    private var entries: [Entry] = []
    private var newest = Self.none
    private var oldest = Self.none
    /// No entry expires before this. A lower bound (removals don't raise it), so a full shard only
    /// sweeps for expired entries when one may exist; each sweep makes it exact again.
    private var earliestDeadline = NIODeadline.distantFuture
    private var flights: [Key: Flight] = [:]
    private var lastFlightID: UInt64 = 0
    private var counters = CacheStatistics()

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { entries.count }

    var statistics: CacheStatistics {
        var statistics = counters
        statistics.count = entries.count
        return statistics
    }

    // MARK: Lookup

    /// The fresh value for `key`, marking it most recently used; an expired entry is dropped.
    /// - Parameter countingMiss: false for a look that a loading lookup follows on a miss, so one
    ///   request is not counted as two misses.
    mutating func value(forKey key: Key, now: NIODeadline, countingMiss: Bool = true) -> Value? {
        entry(forKey: key, now: now, countingMiss: countingMiss)?.value
    }

    /// `value(forKey:now:countingMiss:)` with the deadline the value is fresh until.
    mutating func entry(forKey key: Key, now: NIODeadline, countingMiss: Bool = true) -> (value: Value, deadline: NIODeadline)? {
        if let i = index[key] {
            if now < entries[i].deadline {
                touch(i)
                counters.hits += 1
                return (entries[i].value, entries[i].deadline)
            }
            remove(at: i)
            counters.expirations += 1
        }
        if countingMiss { counters.misses += 1 }
        return nil
    }

    /// A hit, or the load to join, or a new flight the caller must load for (outside the lock).
    mutating func lookup(_ key: Key, now: NIODeadline, on eventLoop: any EventLoop) -> Lookup {
        if let value = value(forKey: key, now: now) {
            return .hit(value)
        }
        if let flight = flights[key] {
            counters.singleFlightJoins += 1
            return .join(flight.promise.futureResult)
        }
        lastFlightID &+= 1
        let promise = eventLoop.makePromise(of: Value.self)
        flights[key] = Flight(id: lastFlightID, promise: promise)
        counters.loads += 1
        return .load(promise, flightID: lastFlightID)
    }

    /// Ends flight `flightID`: caches a successful result for `ttl` unless the flight was detached
    /// meanwhile (the result may then be stale, and a newer flight or value must not be overwritten).
    mutating func finishLoad(
        _ key: Key,
        flightID: UInt64,
        result: Result<Value, any Error>,
        ttl: TimeAmount?,
        now: NIODeadline
    ) {
        if case .failure = result {
            counters.loadFailures += 1
        }
        guard flights[key]?.id == flightID else { return }
        flights.removeValue(forKey: key)
        if case .success(let value) = result, let ttl {
            store(value, forKey: key, ttl: ttl, now: now)
        }
    }

    // MARK: Mutation

    /// Stores `value` until `now + ttl`; a non-positive `ttl` removes `key` instead.
    mutating func set(_ value: Value, forKey key: Key, ttl: TimeAmount, now: NIODeadline) {
        if !flights.isEmpty {
            // A value written after a load began is newer than what the load will bring back.
            flights.removeValue(forKey: key)
        }
        store(value, forKey: key, ttl: ttl, now: now)
    }

    /// Drops `key` and detaches its load in flight: that load's waiters still get its result, but
    /// the result is not cached and the next lookup loads afresh.
    mutating func remove(_ key: Key) {
        if let i = index[key] {
            remove(at: i)
        }
        flights.removeValue(forKey: key)
    }

    /// Drops every entry and detaches every load in flight (see `remove`).
    mutating func removeAll() {
        index.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        newest = Self.none
        oldest = Self.none
        earliestDeadline = .distantFuture
        flights.removeAll()
    }

    private mutating func store(_ value: Value, forKey key: Key, ttl: TimeAmount, now: NIODeadline) {
        guard ttl > .zero else {
            if let i = index[key] {
                remove(at: i)
            }
            return
        }
        guard capacity > 0 else { return }
        let deadline = now + ttl
        earliestDeadline = min(earliestDeadline, deadline)
        if let i = index[key] {
            entries[i].value = value
            entries[i].deadline = deadline
            touch(i)
            return
        }
        if entries.count >= capacity {
            makeRoom(now: now)
        }
        entries.append(Entry(key: key, value: value, deadline: deadline, newer: Self.none, older: Self.none))
        let i = entries.count - 1
        index[key] = i
        linkAsNewest(i)
    }

    /// Frees one slot: expired entries go first (they answer nothing), then the least recently used.
    private mutating func makeRoom(now: NIODeadline) {
        if now >= earliestDeadline {
            removeExpired(now: now)
        }
        if entries.count >= capacity, oldest != Self.none {
            remove(at: oldest)
            counters.evictions += 1
        }
    }

    private mutating func removeExpired(now: NIODeadline) {
        var earliest = NIODeadline.distantFuture
        // Backwards, so the entry swapped into a hole has already been looked at.
        var i = entries.count - 1
        while i >= 0 {
            if entries[i].deadline <= now {
                remove(at: i)
                counters.expirations += 1
            } else {
                earliest = min(earliest, entries[i].deadline)
            }
            i -= 1
        }
        earliestDeadline = earliest
    }

    // MARK: Recency list

    private mutating func remove(at i: Int) {
        unlink(i)
        index.removeValue(forKey: entries[i].key)
        let last = entries.count - 1
        if i != last {
            entries.swapAt(i, last)
            // The entry moved from `last` to `i`: point its neighbours and the index at `i`.
            let newer = entries[i].newer
            let older = entries[i].older
            if newer != Self.none { entries[newer].older = i } else { newest = i }
            if older != Self.none { entries[older].newer = i } else { oldest = i }
            index[entries[i].key] = i
        }
        entries.removeLast()
    }

    private mutating func touch(_ i: Int) {
        guard newest != i else { return }
        unlink(i)
        linkAsNewest(i)
    }

    private mutating func unlink(_ i: Int) {
        let newer = entries[i].newer
        let older = entries[i].older
        if newer != Self.none { entries[newer].older = older } else { newest = older }
        if older != Self.none { entries[older].newer = newer } else { oldest = newer }
        entries[i].newer = Self.none
        entries[i].older = Self.none
    }

    private mutating func linkAsNewest(_ i: Int) {
        entries[i].newer = Self.none
        entries[i].older = newest
        if newest != Self.none { entries[newest].newer = i } else { oldest = i }
        newest = i
    }
}
