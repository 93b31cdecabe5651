import NIOCore
import NIOEmbedded
import NIOPosix
import Synchronization
import Testing

@testable import OSPCore

// MARK: - Fixtures

/// A clock that only moves when the test says so.
private final class ManualClock: Sendable {
    private let current = Mutex(NIODeadline.uptimeNanoseconds(1_000_000_000))

    var cacheClock: CacheClock {
        CacheClock { self.current.withLock { $0 } }
    }

    func advance(by amount: TimeAmount) {
        current.withLock { $0 = $0 + amount }
    }
}

/// Counts the loads a test's `load` closures start.
private final class LoadCounter: Sendable {
    private let value = Atomic<Int>(0)
    var count: Int { value.load(ordering: .relaxed) }
    func increment() { value.add(1, ordering: .relaxed) }
}

private struct LookupFailed: Error, Equatable {
    var attempt: Int
}

private func makeCache<Value: Sendable>(
    of: Value.Type,
    capacity: Int = 100,
    shards: Int = 16,
    clock: ManualClock = ManualClock()
) -> ShardedTTLCache<String, Value> {
    ShardedTTLCache(name: "test", capacity: capacity, shards: shards, clock: clock.cacheClock)
}

private func makeCache(
    capacity: Int = 100,
    shards: Int = 16,
    clock: ManualClock = ManualClock()
) -> ShardedTTLCache<String, String> {
    makeCache(of: String.self, capacity: capacity, shards: shards, clock: clock)
}

/// Issues `count` lookups for `key`, spread round-robin over `loops`, and returns their futures once
/// every call has returned (so all of them are in flight together before any load is answered).
private func concurrentLookups(
    _ count: Int,
    for key: String,
    in cache: ShardedTTLCache<String, String>,
    on loops: [any EventLoop],
    load: @escaping @Sendable () -> EventLoopFuture<String>
) async throws -> [(loop: any EventLoop, future: EventLoopFuture<String>)] {
    let issued = (0..<count).map { i in
        let loop = loops[i % loops.count]
        return loop.submit { (loop: loop, future: cache.value(forKey: key, on: loop, ttl: .seconds(60), load: load)) }
    }
    var lookups: [(loop: any EventLoop, future: EventLoopFuture<String>)] = []
    for submitted in issued {
        lookups.append(try await submitted.get())
    }
    return lookups
}

@Suite("ShardedTTLCache")
struct ShardedTTLCacheTests {
    @Suite("Expiry")
    struct Expiry {
        @Test func anEntryAnswersUntilItsTTLRunsOut() {
            let clock = ManualClock()
            let cache = makeCache(clock: clock)
            cache.set("secret-1", forKey: "AKIA1", ttl: .seconds(10))

            clock.advance(by: .seconds(9))
            #expect(cache.value(forKey: "AKIA1") == "secret-1")

            clock.advance(by: .seconds(1))
            #expect(cache.value(forKey: "AKIA1") == nil)
            #expect(cache.statistics.expirations == 1)
            #expect(cache.statistics.count == 0)
        }

        @Test func settingAKeyAgainRestartsItsTTLAndKeepsOneEntry() {
            let clock = ManualClock()
            let cache = makeCache(clock: clock)
            cache.set("old", forKey: "k", ttl: .seconds(10))
            clock.advance(by: .seconds(8))
            cache.set("new", forKey: "k", ttl: .seconds(10))
            clock.advance(by: .seconds(8))

            #expect(cache.value(forKey: "k") == "new")
            #expect(cache.statistics.count == 1)
        }

        @Test func aZeroOrNegativeTTLCachesNothingAndDropsTheOldValue() {
            let cache = makeCache()
            cache.set("old", forKey: "k", ttl: .seconds(10))
            cache.set("new", forKey: "k", ttl: .zero)
            #expect(cache.value(forKey: "k") == nil)

            cache.set("new", forKey: "other", ttl: .seconds(-1))
            #expect(cache.value(forKey: "other") == nil)
            #expect(cache.statistics.count == 0)
        }

        @Test func removeAndRemoveAllForgetEntries() {
            let cache = makeCache()
            for i in 0..<10 {
                cache.set("v\(i)", forKey: "k\(i)", ttl: .seconds(60))
            }
            cache.remove("k3")
            #expect(cache.value(forKey: "k3") == nil)
            #expect(cache.value(forKey: "k4") == "v4")
            #expect(cache.statistics.count == 9)

            cache.removeAll()
            #expect(cache.statistics.count == 0)
            #expect((0..<10).allSatisfy { cache.value(forKey: "k\($0)") == nil })
        }
    }

    @Suite("Capacity and eviction")
    struct Eviction {
        @Test func aFullCacheEvictsTheLeastRecentlyUsedEntry() {
            let cache = makeCache(capacity: 3, shards: 1)
            cache.set("A", forKey: "a", ttl: .seconds(60))
            cache.set("B", forKey: "b", ttl: .seconds(60))
            cache.set("C", forKey: "c", ttl: .seconds(60))
            _ = cache.value(forKey: "a")  // a is now the most recently used; b the least

            cache.set("D", forKey: "d", ttl: .seconds(60))

            #expect(cache.value(forKey: "b") == nil)
            #expect(cache.value(forKey: "a") == "A")
            #expect(cache.value(forKey: "c") == "C")
            #expect(cache.value(forKey: "d") == "D")
            #expect(cache.statistics.evictions == 1)
            #expect(cache.statistics.count == 3)
        }

        @Test func evictionFollowsUseOrderOverManyEntries() {
            let cache = makeCache(of: Int.self, capacity: 50, shards: 1)
            for i in 0..<50 {
                cache.set(i, forKey: "k\(i)", ttl: .seconds(60))
            }
            // Touch the even keys, so the odd ones are the 25 least recently used.
            for i in stride(from: 0, to: 50, by: 2) {
                #expect(cache.value(forKey: "k\(i)") == i)
            }
            for i in 50..<75 {
                cache.set(i, forKey: "k\(i)", ttl: .seconds(60))
            }
            for i in 0..<75 {
                let expected: Int? = (i < 50 && i % 2 == 1) ? nil : i
                #expect(cache.value(forKey: "k\(i)") == expected, "k\(i)")
            }
            #expect(cache.statistics.evictions == 25)
        }

        @Test func expiredEntriesAreEvictedBeforeLiveOnes() {
            let clock = ManualClock()
            let cache = makeCache(capacity: 3, shards: 1, clock: clock)
            cache.set("A", forKey: "a", ttl: .seconds(100))  // least recently used, but live
            cache.set("B", forKey: "b", ttl: .seconds(1))
            cache.set("C", forKey: "c", ttl: .seconds(1))
            clock.advance(by: .seconds(2))

            cache.set("D", forKey: "d", ttl: .seconds(100))

            #expect(cache.statistics.count == 2)  // both expired entries went, not the live one
            #expect(cache.statistics.evictions == 0)
            #expect(cache.statistics.expirations == 2)
            #expect(cache.value(forKey: "a") == "A")
            #expect(cache.value(forKey: "d") == "D")
        }

        @Test func theTotalCapacityIsSplitAcrossShardsAndNeverExceeded() {
            let cache = makeCache(capacity: 64, shards: 16)
            #expect(cache.shardCount == 16)
            for i in 0..<10_000 {
                cache.set("v", forKey: "key-\(i)", ttl: .seconds(60))
                #expect(cache.statistics.count <= 64)
            }
            #expect(cache.statistics.evictions == 10_000 - cache.statistics.count)

            // Fewer entries than shards: no shard is left without room.
            let small = makeCache(capacity: 5, shards: 16)
            #expect(small.shardCount == 4)
            for i in 0..<1_000 {
                small.set("v", forKey: "key-\(i)", ttl: .seconds(60))
            }
            #expect(small.statistics.count == 5)
        }

        @Test func aShardCountIsRoundedDownToAPowerOfTwo() {
            #expect(makeCache(capacity: 1_000, shards: 10).shardCount == 8)
            #expect(makeCache(capacity: 1_000, shards: 1).shardCount == 1)
            #expect(makeCache(capacity: 1_000, shards: 0).shardCount == 1)
        }

        @Test func aZeroCapacityCacheStoresNothingButStillMergesLoads() throws {
            let loop = EmbeddedEventLoop()
            let cache = makeCache(capacity: 0)
            let loads = LoadCounter()
            let gate = loop.makePromise(of: String.self)
            let load: @Sendable () -> EventLoopFuture<String> = {
                loads.increment()
                return gate.futureResult
            }
            let first = cache.value(forKey: "k", on: loop, ttl: .seconds(60), load: load)
            let second = cache.value(forKey: "k", on: loop, ttl: .seconds(60), load: load)
            gate.succeed("v")
            #expect(try first.wait() == "v")
            #expect(try second.wait() == "v")
            #expect(loads.count == 1)
            #expect(cache.value(forKey: "k") == nil)
        }
    }

    @Suite("TTL per result")
    struct TTLPerResult {
        @Test func aNegativeAnswerIsCachedForItsShorterTTL() throws {
            let loop = EmbeddedEventLoop()
            let clock = ManualClock()
            let cache: ShardedTTLCache<String, String?> = makeCache(of: String?.self, clock: clock)
            let loads = LoadCounter()
            let ttl: @Sendable (String?) -> TimeAmount? = { $0 == nil ? .seconds(5) : .seconds(300) }
            func lookup(_ key: String) throws -> String? {
                try cache.value(forKey: key, on: loop, ttl: ttl) {
                    loads.increment()
                    return loop.makeSucceededFuture(key == "known" ? "secret" : nil)
                }.wait()
            }

            #expect(try lookup("unknown") == nil)
            #expect(try lookup("known") == "secret")
            #expect(loads.count == 2)

            clock.advance(by: .seconds(4))
            #expect(try lookup("unknown") == nil)
            #expect(try lookup("known") == "secret")
            #expect(loads.count == 2)  // both answered from the cache

            clock.advance(by: .seconds(2))
            #expect(try lookup("unknown") == nil)
            #expect(try lookup("known") == "secret")
            #expect(loads.count == 3)  // only the negative answer was looked up again
        }

        @Test func aResultWithoutTTLIsNotCached() throws {
            let loop = EmbeddedEventLoop()
            let cache = makeCache()
            let loads = LoadCounter()
            for _ in 0..<3 {
                let value = try cache.value(forKey: "k", on: loop, ttl: { _ in nil }) {
                    loads.increment()
                    return loop.makeSucceededFuture("v")
                }.wait()
                #expect(value == "v")
            }
            #expect(loads.count == 3)
            #expect(cache.statistics.count == 0)
        }
    }

    @Suite("Single-flight")
    struct SingleFlight {
        @Test func missesWaitingForOneLoadShareItsResult() throws {
            let loop = EmbeddedEventLoop()
            let cache = makeCache()
            let loads = LoadCounter()
            let gate = loop.makePromise(of: String.self)
            let load: @Sendable () -> EventLoopFuture<String> = {
                loads.increment()
                return gate.futureResult
            }

            let futures = (0..<3).map { _ in cache.value(forKey: "k", on: loop, ttl: .seconds(60), load: load) }
            #expect(loads.count == 1)
            gate.succeed("v")

            for future in futures {
                #expect(try future.wait() == "v")
            }
            // Later lookups are hits.
            #expect(try cache.value(forKey: "k", on: loop, ttl: .seconds(60), load: load).wait() == "v")
            #expect(loads.count == 1)
        }

        @Test func hundredConcurrentMissesForOneKeyCauseOneLookup() async throws {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            let loops = Array(group.makeIterator())
            let cache = makeCache()
            let loads = LoadCounter()
            let gate = loops[0].makePromise(of: String.self)

            let lookups = try await concurrentLookups(100, for: "AKIA-HOT", in: cache, on: loops) {
                loads.increment()
                return gate.futureResult
            }
            gate.succeed("secret")

            for lookup in lookups {
                let answeredOnOwnLoop = lookup.future.map { value in (value, lookup.loop.inEventLoop) }
                let (value, onOwnLoop) = try await answeredOnOwnLoop.get()
                #expect(value == "secret")
                #expect(onOwnLoop)
                #expect(lookup.future.eventLoop === lookup.loop)
            }
            #expect(loads.count == 1)
            let statistics = cache.statistics
            #expect(statistics.loads == 1)
            #expect(statistics.singleFlightJoins == 99)
            #expect(statistics.misses == 100)
            #expect(statistics.hits == 0)
            #expect(cache.value(forKey: "AKIA-HOT") == "secret")
            try await group.shutdownGracefully()
        }

        @Test func aFailedLoadFailsEveryWaiterIsNotCachedAndTheNextCallLoadsAgain() async throws {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            let loops = Array(group.makeIterator())
            let cache = makeCache()
            let loads = LoadCounter()
            let gate = loops[1].makePromise(of: String.self)

            let lookups = try await concurrentLookups(100, for: "k", in: cache, on: loops) {
                loads.increment()
                return gate.futureResult
            }
            gate.fail(LookupFailed(attempt: 1))

            for lookup in lookups {
                await #expect(throws: LookupFailed(attempt: 1)) { try await lookup.future.get() }
            }
            #expect(loads.count == 1)
            #expect(cache.value(forKey: "k") == nil)
            #expect(cache.statistics.loadFailures == 1)

            let retry = cache.value(forKey: "k", on: loops[0], ttl: .seconds(60)) {
                loads.increment()
                return loops[1].makeSucceededFuture("recovered")
            }
            #expect(try await retry.get() == "recovered")
            #expect(loads.count == 2)
            #expect(cache.value(forKey: "k") == "recovered")
            try await group.shutdownGracefully()
        }

        @Test func aLoadFinishingAfterRemoveAllAnswersItsWaitersButIsNotCached() throws {
            let loop = EmbeddedEventLoop()
            let cache = makeCache()
            let stale = loop.makePromise(of: String.self)
            let fresh = loop.makePromise(of: String.self)
            let loads = LoadCounter()

            let before = cache.value(forKey: "k", on: loop, ttl: .seconds(60)) {
                loads.increment()
                return stale.futureResult
            }
            cache.removeAll()
            // The next miss does not join the detached load: it starts its own.
            let after = cache.value(forKey: "k", on: loop, ttl: .seconds(60)) {
                loads.increment()
                return fresh.futureResult
            }
            #expect(loads.count == 2)

            fresh.succeed("fresh")
            stale.succeed("stale")

            #expect(try before.wait() == "stale")
            #expect(try after.wait() == "fresh")
            #expect(cache.value(forKey: "k") == "fresh")
            #expect(cache.statistics.count == 1)

            // With no newer load, the detached result is still not cached.
            let late = loop.makePromise(of: String.self)
            let detached = cache.value(forKey: "j", on: loop, ttl: .seconds(60)) { late.futureResult }
            cache.remove("j")
            late.succeed("late")
            #expect(try detached.wait() == "late")
            #expect(cache.value(forKey: "j") == nil)
            let reloaded = cache.value(forKey: "j", on: loop, ttl: .seconds(60)) {
                loads.increment()
                return loop.makeSucceededFuture("reloaded")
            }
            #expect(try reloaded.wait() == "reloaded")
            #expect(loads.count == 3)
        }

        @Test func aValueSetDuringALoadIsNotOverwrittenByIt() throws {
            let loop = EmbeddedEventLoop()
            let cache = makeCache()
            let gate = loop.makePromise(of: String.self)
            let waiting = cache.value(forKey: "k", on: loop, ttl: .seconds(60)) { gate.futureResult }
            cache.set("written", forKey: "k", ttl: .seconds(60))
            gate.succeed("loaded")

            #expect(try waiting.wait() == "loaded")
            #expect(cache.value(forKey: "k") == "written")
        }

        @Test func aWaiterMayUseTheCacheFromItsCallback() throws {
            let loop = EmbeddedEventLoop()
            let cache = makeCache()
            let gate = loop.makePromise(of: String.self)
            let future = cache.value(forKey: "k", on: loop, ttl: .seconds(60)) { gate.futureResult }
            // Runs while the load completes: it would deadlock if completion held the shard lock.
            let reentered = future.map { _ in cache.value(forKey: "k") }
            gate.succeed("v")
            #expect(try reentered.wait() == "v")
        }
    }

    @Suite("Statistics and description")
    struct Statistics {
        @Test func statisticsCountWhatHappened() throws {
            let loop = EmbeddedEventLoop()
            let clock = ManualClock()
            let cache = makeCache(capacity: 2, shards: 1, clock: clock)

            cache.set("A", forKey: "a", ttl: .seconds(10))
            _ = cache.value(forKey: "a")  // hit
            _ = cache.value(forKey: "x")  // miss
            cache.set("B", forKey: "b", ttl: .seconds(10))
            cache.set("C", forKey: "c", ttl: .seconds(10))  // evicts a
            clock.advance(by: .seconds(10))
            _ = cache.value(forKey: "b")  // miss, expiration

            let gate = loop.makePromise(of: String.self)
            let first = cache.value(forKey: "d", on: loop, ttl: .seconds(10)) { gate.futureResult }  // miss, load
            let second = cache.value(forKey: "d", on: loop, ttl: .seconds(10)) { gate.futureResult }  // miss, join
            gate.fail(LookupFailed(attempt: 1))
            #expect(throws: LookupFailed.self) { try first.wait() }
            #expect(throws: LookupFailed.self) { try second.wait() }

            #expect(
                cache.statistics
                    == CacheStatistics(
                        hits: 1,
                        misses: 4,
                        evictions: 1,
                        expirations: 1,
                        singleFlightJoins: 1,
                        loads: 1,
                        loadFailures: 1,
                        count: 1  // c, expired but not yet looked at
                    )
            )
        }

        @Test func theDescriptionNeverShowsKeysOrValues() {
            let cache = makeCache()
            cache.set("wJalrXUtnFEMI-secret", forKey: "AKIAEXAMPLEKEY", ttl: .seconds(60))
            #expect(cache.description.contains("count=1"))
            #expect(!cache.description.contains("wJalrXUtnFEMI"))
            #expect(!cache.description.contains("AKIAEXAMPLEKEY"))
        }
    }

    @Suite("Real concurrency")
    struct Concurrency {
        @Test func manyThreadsSettingAndGettingRandomKeysKeepTheCacheConsistent() async throws {
            let threads = 4
            let operations = 20_000
            let keySpace = 1_000
            let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
            let cache = ShardedTTLCache<Int, Int>(name: "hammer", capacity: 256, shards: 8)
            let loads = LoadCounter()

            let workers = (0..<threads).map { thread in
                let loop = group.next()
                return loop.submit { () -> (lookups: Int, wrongValues: Int) in
                    var random = SystemRandomNumberGenerator()
                    var lookups = 0
                    var wrongValues = 0
                    for _ in 0..<operations {
                        let key = Int.random(in: 0..<keySpace, using: &random)
                        switch Int.random(in: 0..<10, using: &random) {
                        case 0..<4:
                            let ttl = TimeAmount.milliseconds(Int64.random(in: 1...50, using: &random))
                            cache.set(key &* 7, forKey: key, ttl: ttl)
                        case 4..<8:
                            lookups += 1
                            if let value = cache.value(forKey: key), value != key &* 7 { wrongValues += 1 }
                        case 8:
                            lookups += 1
                            _ = cache.value(forKey: key, on: loop, ttl: .milliseconds(20)) {
                                loads.increment()
                                return loop.makeSucceededFuture(key &* 7)
                            }
                        default:
                            if thread == 0, key == 0 { cache.removeAll() } else { cache.remove(key) }
                        }
                    }
                    return (lookups, wrongValues)
                }
            }
            var lookups = 0
            for worker in workers {
                let result = try await worker.get()
                lookups += result.lookups
                #expect(result.wrongValues == 0)
            }
            let statistics = cache.statistics
            #expect(statistics.count <= 256)
            #expect(statistics.hits + statistics.misses == lookups)
            #expect(statistics.loads == loads.count)
            #expect(statistics.loadFailures == 0)
            try await group.shutdownGracefully()
        }
    }
}
