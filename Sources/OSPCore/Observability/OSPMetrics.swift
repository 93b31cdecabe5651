import CoreMetrics
import Prometheus
import Synchronization

/// osp's metrics: every series it exports, created through swift-metrics on a Prometheus registry
/// that `/metrics` on the admin port renders.
///
/// Each `Gateway` is given one (tests build their own on a private registry; the executable passes the
/// registry it bootstrapped `MetricsSystem` with, so libraries' own metrics land on the same page).
/// Names carry the `osp_` prefix exactly once, units in the name (`_seconds`, `_bytes_total`).
/// Labels come only from bounded sets (`MetricLabels`, S3 error codes, configured backend and cache
/// names): never a key, a bucket, an access key, a principal or a secret.
///
/// Series are created once per label set and kept, so a request costs an array index and a few
/// atomic increments, not a registry lookup or an allocation.
public final class OSPMetrics: Sendable {
    public static let prefix = "osp_"

    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    /// A swift-metrics factory on `registry`, with osp's histogram buckets and the prefix rule.
    public let factory: PrometheusMetricsFactory

    private let requests: Mutex<RequestSeries>
    private let bytesReceived: CoreMetrics.Counter
    private let bytesSent: CoreMetrics.Counter
    private let openConnections: Meter
    private let upstreamConnectErrors: CoreMetrics.Counter
    private let upstreamIdleConnections: Meter
    private let authFailures: Mutex<[String: CoreMetrics.Counter]>
    private let calloutErrors: Mutex<[String: CoreMetrics.Counter]>
    private let caches: Mutex<[String: CacheSeries]>

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = Self.makeFactory(registry)
        let factory = self.factory
        self.requests = Mutex(RequestSeries())
        self.bytesReceived = CoreMetrics.Counter(label: Name.bytesReceived, factory: factory)
        self.bytesSent = CoreMetrics.Counter(label: Name.bytesSent, factory: factory)
        self.openConnections = Meter(label: Name.openConnections, factory: factory)
        self.upstreamConnectErrors = CoreMetrics.Counter(label: Name.upstreamConnectErrors, factory: factory)
        self.upstreamIdleConnections = Meter(label: Name.upstreamIdleConnections, factory: factory)
        self.authFailures = Mutex([:])
        self.calloutErrors = Mutex([:])
        self.caches = Mutex([:])
    }

    /// Metric names, in one place so the prefix is written once.
    enum Name {
        static let requests = "osp_requests_total"
        static let requestDuration = "osp_request_duration_seconds"
        static let bytesReceived = "osp_received_bytes_total"
        static let bytesSent = "osp_sent_bytes_total"
        static let openConnections = "osp_open_connections"
        static let authFailures = "osp_auth_failures_total"
        static let decisions = "osp_policy_decisions_total"
        static let cacheHits = "osp_cache_hits_total"
        static let cacheMisses = "osp_cache_misses_total"
        static let cacheEvictions = "osp_cache_evictions_total"
        static let cacheExpirations = "osp_cache_expirations_total"
        static let cacheJoins = "osp_cache_single_flight_joins_total"
        static let cacheEntries = "osp_cache_entries"
        static let calloutDuration = "osp_callout_duration_seconds"
        static let calloutErrors = "osp_callout_errors_total"
        static let upstreamConnectErrors = "osp_upstream_connect_errors_total"
        static let upstreamIdleConnections = "osp_upstream_idle_connections"
        static let buildInfo = "osp_build_info"
    }

    /// Request and callout latencies: S3 requests range from a cached HEAD (sub-millisecond) to a
    /// multi-gigabyte upload, callouts from a warm local service to a timeout.
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    private static func makeFactory(_ registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        // Metrics other libraries create through the bootstrapped MetricsSystem get the prefix too,
        // and ours keep the one they have: `osp_` exactly once.
        factory.nameAndLabelSanitizer = { name, labels in
            (prefixed(name), labels)
        }
        return factory
    }

    static func prefixed(_ name: String) -> String {
        name.hasPrefix(prefix) ? name : prefix + name
    }

    // MARK: Requests

    /// One finished S3 request. Indices are positions in `MetricLabels`' sets.
    func requestFinished(method: Int, action: Int, statusClass: Int, durationNanoseconds: Int64, bytesIn: Int, bytesOut: Int) {
        let (counter, duration) = self.requests.withLock { series in
            series.series(method: method, action: action, statusClass: statusClass, factory: self.factory)
        }
        counter.increment()
        duration.recordNanoseconds(durationNanoseconds)
        if bytesIn > 0 { self.bytesReceived.increment(by: bytesIn) }
        if bytesOut > 0 { self.bytesSent.increment(by: bytesOut) }
    }

    /// A client connection to the S3 listener opened or closed. Callers pair them (one close per open),
    /// so the gauge never goes below zero.
    func connectionOpened() { self.openConnections.increment() }
    func connectionClosed() { self.openConnections.decrement() }

    // MARK: Authentication and authorization

    /// A request whose signature or key was refused; `reason` is the S3 error code (a fixed set).
    func authenticationFailed(reason: String) {
        let counter = self.authFailures.withLock { counters -> CoreMetrics.Counter in
            if let counter = counters[reason] { return counter }
            let counter = CoreMetrics.Counter(label: Name.authFailures, dimensions: [("reason", reason)], factory: self.factory)
            counters[reason] = counter
            return counter
        }
        counter.increment()
    }

    /// The counters for one policy backend's verdicts, made once per gateway.
    func decisionCounters(backend: String) -> DecisionCounters {
        func counter(_ result: String) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: Name.decisions, dimensions: [("backend", backend), ("result", result)], factory: self.factory)
        }
        return DecisionCounters(allow: counter("allow"), deny: counter("deny"), error: counter("error"))
    }

    // MARK: Callouts

    /// The latency and error series of one callout backend (`opa`, `http-secrets`, `redis`, …).
    func callouts(backend: String) -> CalloutMetrics {
        CalloutMetrics(
            backend: backend,
            duration: CoreMetrics.Timer(label: Name.calloutDuration, dimensions: [("backend", backend)], factory: self.factory),
            metrics: self
        )
    }

    func calloutFailed(backend: String, kind: String) {
        let key = backend + "\u{0}" + kind
        let counter = self.calloutErrors.withLock { counters -> CoreMetrics.Counter in
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(
                label: Name.calloutErrors, dimensions: [("backend", backend), ("kind", kind)], factory: self.factory
            )
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    // MARK: Upstream

    func upstreamConnectFailed() { self.upstreamConnectErrors.increment() }

    func upstreamIdleConnections(_ count: Int) { self.upstreamIdleConnections.set(count) }

    // MARK: Caches

    /// Brings the cache series up to date with `sources`' statistics (at scrape time: the caches count
    /// for themselves, under their own locks, and are read only when someone looks).
    func observeCaches(_ sources: [any CacheStatisticsSource]) {
        var byName: [String: CacheStatistics] = [:]
        for source in sources {
            byName[source.name] = (byName[source.name] ?? CacheStatistics()) + source.statistics
        }
        self.caches.withLock { series in
            for (name, statistics) in byName {
                if series[name] == nil {
                    series[name] = CacheSeries(name: name, factory: self.factory)
                }
                series[name]!.observe(statistics)
            }
        }
    }

    // MARK: Build

    /// `osp_build_info{version}` = 1: joins other series to the version that produced them.
    public func recordBuildInfo(version: String) {
        Meter(label: Name.buildInfo, dimensions: [("version", version)], factory: self.factory).set(1)
    }
}

/// The request counters and duration histograms, each created the first time its label set is
/// used (a page of zeros for methods and actions nobody sends helps no one) and then kept.
private struct RequestSeries {
    private var counters = [CoreMetrics.Counter?](
        repeating: nil, count: MetricLabels.methods.count * MetricLabels.actions.count * MetricLabels.statusClasses.count
    )
    private var durations = [CoreMetrics.Timer?](repeating: nil, count: MetricLabels.methods.count)

    mutating func series(method: Int, action: Int, statusClass: Int, factory: PrometheusMetricsFactory) -> (CoreMetrics.Counter, CoreMetrics.Timer) {
        let index = (method * MetricLabels.actions.count + action) * MetricLabels.statusClasses.count + statusClass
        let counter = self.counters[index] ?? CoreMetrics.Counter(
            label: OSPMetrics.Name.requests,
            dimensions: [
                ("method", MetricLabels.methods[method]),
                ("action", MetricLabels.actions[action]),
                ("status_class", MetricLabels.statusClasses[statusClass]),
            ],
            factory: factory
        )
        self.counters[index] = counter
        let duration = self.durations[method] ?? CoreMetrics.Timer(
            label: OSPMetrics.Name.requestDuration, dimensions: [("method", MetricLabels.methods[method])], factory: factory
        )
        self.durations[method] = duration
        return (counter, duration)
    }
}

/// One policy backend's verdict counters (`osp_policy_decisions_total{backend, result}`).
struct DecisionCounters: Sendable {
    let allow: CoreMetrics.Counter
    let deny: CoreMetrics.Counter
    /// The backend could not answer (timeout, transport, garbage): refused as unavailable.
    let error: CoreMetrics.Counter
}

/// One callout backend's latency histogram and error counters.
public struct CalloutMetrics: Sendable {
    let backend: String
    let duration: CoreMetrics.Timer
    let metrics: OSPMetrics

    func record(nanoseconds: Int64) { self.duration.recordNanoseconds(nanoseconds) }

    /// `kind`: a fixed word (`timeout`, `transport`, `status_5xx`, …), never a message.
    func failed(kind: String) { self.metrics.calloutFailed(backend: self.backend, kind: kind) }
}

/// The series of one named cache, fed from its cumulative `CacheStatistics`: counters move by what
/// changed since the last scrape. A cache that was replaced and restarted from zero moves nothing
/// until it passes its predecessor's numbers (counters never go back).
private struct CacheSeries {
    let hits: CoreMetrics.Counter
    let misses: CoreMetrics.Counter
    let evictions: CoreMetrics.Counter
    let expirations: CoreMetrics.Counter
    let joins: CoreMetrics.Counter
    let entries: Meter
    var last = CacheStatistics()

    init(name: String, factory: PrometheusMetricsFactory) {
        let cache = [("cache", name)]
        self.hits = CoreMetrics.Counter(label: OSPMetrics.Name.cacheHits, dimensions: cache, factory: factory)
        self.misses = CoreMetrics.Counter(label: OSPMetrics.Name.cacheMisses, dimensions: cache, factory: factory)
        self.evictions = CoreMetrics.Counter(label: OSPMetrics.Name.cacheEvictions, dimensions: cache, factory: factory)
        self.expirations = CoreMetrics.Counter(label: OSPMetrics.Name.cacheExpirations, dimensions: cache, factory: factory)
        self.joins = CoreMetrics.Counter(label: OSPMetrics.Name.cacheJoins, dimensions: cache, factory: factory)
        self.entries = Meter(label: OSPMetrics.Name.cacheEntries, dimensions: cache, factory: factory)
    }

    mutating func observe(_ now: CacheStatistics) {
        func advance(_ counter: CoreMetrics.Counter, _ current: Int, _ previous: Int) -> Int {
            if current > previous { counter.increment(by: current - previous) }
            return max(current, previous)
        }
        self.last.hits = advance(self.hits, now.hits, self.last.hits)
        self.last.misses = advance(self.misses, now.misses, self.last.misses)
        self.last.evictions = advance(self.evictions, now.evictions, self.last.evictions)
        self.last.expirations = advance(self.expirations, now.expirations, self.last.expirations)
        self.last.singleFlightJoins = advance(self.joins, now.singleFlightJoins, self.last.singleFlightJoins)
        self.entries.set(now.count)
    }
}
