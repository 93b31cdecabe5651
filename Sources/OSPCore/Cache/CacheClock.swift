import NIOCore

/// The time source a `ShardedTTLCache` judges expiry by. Production reads the monotonic clock; tests
/// inject a clock they move by hand, so TTL behaviour is tested without sleeping.
public struct CacheClock: Sendable {
    public var now: @Sendable () -> NIODeadline

    public init(now: @escaping @Sendable () -> NIODeadline) {
        self.now = now
    }

    /// The monotonic uptime clock: unaffected by wall-clock jumps, like every `NIODeadline`.
    public static let system = CacheClock(now: { NIODeadline.now() })
}
