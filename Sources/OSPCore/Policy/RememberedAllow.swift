import NIOCore

/// A connection's last allow from a remote engine's decision cache: the request's view of it
/// (`PolicyView`), the cache that gave the answer and how long it holds. A request on the same
/// connection whose view equals that view is allowed without writing its key or looking it up.
///
/// Why: a warm lookup locks a shard both event loops share and writes its recency and counters, and
/// measured by skipping it (the crossover in BENCHMARKS.md) that cost 2–3.5 % of a request's CPU —
/// far more than its instructions, as the two cores pass the shard's cache lines back and forth;
/// writing the key the lookup needs cost about as much again. Clients repeat questions on one
/// connection: a reader fetching a Parquet file's footer and then its column chunks by range asks
/// the same question each time (the range is not part of it), each request signed anew.
///
/// Nothing is answered here that the cache would not answer: the same question (a view is all a
/// question and its key are written from, so equal views have equal keys), the same cache (a
/// reload makes a new one, with a new authorizer and allow-list, so a new policy is asked afresh),
/// and no later than the cached answer expires. Only allows are kept: a deny is looked up each time,
/// so a scope allowed since then is found as the cache would find it. Such a request is not counted
/// as a cache hit again (`osp_cache_*`); it is counted as a decision, like every request.
///
/// A value the connection owns, used on its event loop only: no lock.
struct RememberedAllow {
    /// Where the next key is written (`DecisionKey.Writer(reusing:)`), so a connection writes the
    /// keys of the questions it looks up without allocating.
    private var scratch: [UInt8] = []
    private var view: PolicyView?
    private var cache: DecisionCache?
    private var freshUntil = NIODeadline.uptimeNanoseconds(0)

    init() {}

    /// The buffer to write the next key into; hand it back with `giveBack`.
    mutating func takeBuffer() -> [UInt8] {
        var buffer: [UInt8] = []
        swap(&buffer, &self.scratch)
        return buffer
    }

    /// Returns a buffer taken by `takeBuffer`.
    mutating func giveBack(_ buffer: consuming [UInt8]) {
        self.scratch = buffer
    }

    /// Whether `view` asks the remembered allow's question, of `cache`, and the allow still holds at `now`.
    func allows(_ view: PolicyView, from cache: DecisionCache, at now: NIODeadline) -> Bool {
        self.cache === cache && now < self.freshUntil && self.view == view
    }

    /// Keeps an allow `cache` gave for `view`'s question until `freshUntil`.
    mutating func remember(_ view: PolicyView, from cache: DecisionCache, freshUntil: NIODeadline) {
        self.view = view
        self.cache = cache
        self.freshUntil = freshUntil
    }
}
