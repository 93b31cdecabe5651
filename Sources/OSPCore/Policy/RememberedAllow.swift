import NIOCore

/// A connection's last allow from a remote engine's decision cache: the answer's key, the cache
/// that gave it and how long it holds. A request on the same connection whose key is byte for byte
/// that key is allowed without looking the cache up again.
///
/// Why: a warm lookup locks a shard both event loops share and writes its recency and counters, and
/// measured by skipping it (the crossover in BENCHMARKS.md) that cost 2–3.5 % of a request's CPU —
/// far more than its instructions, as the two cores pass the shard's cache lines back and forth.
/// Clients repeat questions on one connection: a reader fetching a Parquet file's footer and then
/// its column chunks by range asks the same question each time (the range is not part of it).
///
/// Nothing is answered here that the cache would not answer: the same key (`DecisionKey` bytes hold
/// the whole question), the same cache (a reload makes a new one, so a new policy is asked afresh),
/// and no later than the cached answer expires. Only allows are kept: a deny is looked up each time,
/// so a scope allowed since then is found as the cache would find it. Such a request is not counted
/// as a cache hit again (`osp_cache_*`); it is counted as a decision, like every request.
///
/// A value the connection owns, used on its event loop only: no lock.
struct RememberedAllow {
    /// Where the next key is written (`DecisionKey.Writer(reusing:)`): with `key`, two buffers that
    /// trade places, so a connection writes its keys without allocating.
    private var scratch: [UInt8] = []
    private var key: [UInt8] = []
    private var cache: DecisionCache?
    private var freshUntil = NIODeadline.uptimeNanoseconds(0)

    init() {}

    /// The buffer to write the next key into; hand it back with `remember` or `giveBack`.
    mutating func takeBuffer() -> [UInt8] {
        var buffer: [UInt8] = []
        swap(&buffer, &self.scratch)
        return buffer
    }

    /// Whether `key` is the remembered allow's key, from `cache`, and the allow still holds at `now`.
    func allows(_ key: [UInt8], from cache: DecisionCache, at now: NIODeadline) -> Bool {
        self.cache === cache && now < self.freshUntil && self.key == key
    }

    /// Keeps an allow `cache` gave for `key` until `freshUntil`.
    mutating func remember(_ key: consuming [UInt8], from cache: DecisionCache, freshUntil: NIODeadline) {
        swap(&self.scratch, &self.key)
        self.key = key
        self.cache = cache
        self.freshUntil = freshUntil
    }

    /// Returns a buffer taken by `takeBuffer` that holds nothing to remember.
    mutating func giveBack(_ buffer: consuming [UInt8]) {
        self.scratch = buffer
    }
}
