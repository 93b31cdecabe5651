/// What a `ShardedTTLCache` has done since it was created: the numbers behind its hit ratio and
/// backend load, for metrics and logs.
///
/// Every lookup is either a hit or a miss. A miss through the single-flight lookup either starts a
/// load or joins one already in flight, so `misses >= loads + singleFlightJoins` (plain
/// `value(forKey:)` misses load nothing). Shards are read one after another, so a snapshot taken while
/// the cache is busy is consistent per shard, not across shards.
public struct CacheStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Lookups answered by a fresh entry.
    public var hits: Int
    /// Lookups that found no fresh entry.
    public var misses: Int
    /// Live entries dropped to make room for new ones.
    public var evictions: Int
    /// Entries dropped because their deadline had passed.
    public var expirations: Int
    /// Misses that waited for a load another caller had already started.
    public var singleFlightJoins: Int
    /// Loads started by the single-flight lookup.
    public var loads: Int
    /// Loads that failed (never cached).
    public var loadFailures: Int
    /// Entries held now; some may have expired without having been looked at since.
    public var count: Int

    public init(
        hits: Int = 0,
        misses: Int = 0,
        evictions: Int = 0,
        expirations: Int = 0,
        singleFlightJoins: Int = 0,
        loads: Int = 0,
        loadFailures: Int = 0,
        count: Int = 0
    ) {
        self.hits = hits
        self.misses = misses
        self.evictions = evictions
        self.expirations = expirations
        self.singleFlightJoins = singleFlightJoins
        self.loads = loads
        self.loadFailures = loadFailures
        self.count = count
    }

    public var description: String {
        "hits=\(hits) misses=\(misses) evictions=\(evictions) expirations=\(expirations) "
            + "singleFlightJoins=\(singleFlightJoins) loads=\(loads) loadFailures=\(loadFailures) count=\(count)"
    }

    static func + (lhs: CacheStatistics, rhs: CacheStatistics) -> CacheStatistics {
        CacheStatistics(
            hits: lhs.hits + rhs.hits,
            misses: lhs.misses + rhs.misses,
            evictions: lhs.evictions + rhs.evictions,
            expirations: lhs.expirations + rhs.expirations,
            singleFlightJoins: lhs.singleFlightJoins + rhs.singleFlightJoins,
            loads: lhs.loads + rhs.loads,
            loadFailures: lhs.loadFailures + rhs.loadFailures,
            count: lhs.count + rhs.count
        )
    }
}
