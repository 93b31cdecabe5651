import NIOCore
import NIOHTTP1
import NIOPosix
import Logging
import Prometheus
import Testing

@testable import OSPCore

/// One series' value from Prometheus text: `name{labels} value`, labels as rendered.
func metricValue(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " ") else { continue }
        if line[..<space] == series { return Double(line[line.index(after: space)...]) }
    }
    return nil
}

/// Every metric family name a scrape declares (`# TYPE name kind`).
func metricFamilies(_ text: String) -> [String: String] {
    var families: [String: String] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
        let parts = line.split(separator: " ")
        families[String(parts[2])] = String(parts[3])
    }
    return families
}

@Suite("Metrics: labels from bounded sets")
struct MetricLabelTests {
    @Test("methods outside S3's set count as OTHER")
    func methods() {
        #expect(MetricLabels.methods[MetricLabels.methodIndex(.GET)] == "GET")
        #expect(MetricLabels.methods[MetricLabels.methodIndex(.DELETE)] == "DELETE")
        #expect(MetricLabels.methods[MetricLabels.methodIndex(.RAW(value: "BREW"))] == "OTHER")
        #expect(MetricLabels.methods[MetricLabels.methodIndex(.PROPFIND)] == "OTHER")
    }

    @Test("statuses fold into classes; none when no status was sent", arguments: [
        (0, "none"), (100, "1xx"), (200, "2xx"), (206, "2xx"), (304, "3xx"), (403, "4xx"), (499, "4xx"),
        (503, "5xx"), (999, "5xx"), (-1, "none"),
    ])
    func statusClasses(status: Int, expected: String) {
        #expect(MetricLabels.statusClasses[MetricLabels.statusClassIndex(status)] == expected)
    }

    @Test("every action the operation table produces has its own label; anything else is other")
    func actions() {
        for row in S3OperationTable.rows {
            #expect(MetricLabels.actions[MetricLabels.actionIndex(row.operation.action)] == row.operation.action)
            if let versioned = row.versionAction {
                #expect(MetricLabels.actions[MetricLabels.actionIndex(versioned)] == versioned)
            }
        }
        #expect(MetricLabels.actions[MetricLabels.actionIndex("s3:ListAllMyBuckets")] == "s3:ListAllMyBuckets")
        #expect(MetricLabels.actions[MetricLabels.actionIndex(nil)] == "none")
        // A client cannot mint a label: an arbitrary string is folded into `other`.
        #expect(MetricLabels.actions[MetricLabels.actionIndex("s3:GetObject/../../etc/passwd")] == "other")
        #expect(Set(MetricLabels.actions).count == MetricLabels.actions.count)
        #expect(MetricLabels.actions.count < 150)
    }
}

@Suite("Metrics: the exported series")
struct OSPMetricsTests {
    @Test("requests are counted per method, action and status class, with duration and bytes")
    func requests() {
        let metrics = OSPMetrics()
        let get = MetricLabels.methodIndex(.GET)
        let put = MetricLabels.methodIndex(.PUT)
        let getObject = MetricLabels.actionIndex("s3:GetObject")
        let ok = MetricLabels.statusClassIndex(200)
        for _ in 0..<3 {
            metrics.requestFinished(method: get, action: getObject, statusClass: ok, durationNanoseconds: 2_000_000, bytesIn: 0, bytesOut: 10)
        }
        metrics.requestFinished(
            method: put, action: MetricLabels.actionIndex("s3:PutObject"), statusClass: MetricLabels.statusClassIndex(403),
            durationNanoseconds: 1_000_000, bytesIn: 100, bytesOut: 5
        )
        let text = metrics.registry.emitToString()
        #expect(metricValue(text, #"osp_requests_total{method="GET",action="s3:GetObject",status_class="2xx"}"#) == 3)
        #expect(metricValue(text, #"osp_requests_total{method="PUT",action="s3:PutObject",status_class="4xx"}"#) == 1)
        #expect(metricValue(text, #"osp_request_duration_seconds_count{method="GET"}"#) == 3)
        #expect(metricValue(text, #"osp_request_duration_seconds_bucket{method="GET",le="0.002"}"#) == 3)
        #expect(metricValue(text, #"osp_request_duration_seconds_bucket{method="GET",le="0.001"}"#) == 0)
        #expect(metricValue(text, "osp_received_bytes_total") == 100)
        #expect(metricValue(text, "osp_sent_bytes_total") == 35)
        let families = metricFamilies(text)
        #expect(families["osp_requests_total"] == "counter")
        #expect(families["osp_request_duration_seconds"] == "histogram")
        #expect(families["osp_open_connections"] == "gauge")
    }

    @Test("every name carries the osp_ prefix exactly once, also for swift-metrics users' own names")
    func prefix() {
        let metrics = OSPMetrics()
        metrics.recordBuildInfo(version: "9.9.9")
        metrics.authenticationFailed(reason: "SignatureDoesNotMatch")
        metrics.callouts(backend: "opa").failed(kind: "timeout")
        metrics.observeCaches([])
        // A library's metric created through the factory the executable bootstraps.
        metrics.factory.makeCounter(label: "library_events_total", dimensions: []).increment(by: 1)
        metrics.factory.makeCounter(label: "osp_already_prefixed_total", dimensions: []).increment(by: 1)
        let text = metrics.registry.emitToString()
        let families = metricFamilies(text)
        #expect(!families.isEmpty)
        for name in families.keys {
            #expect(name.hasPrefix("osp_") && !name.hasPrefix("osp_osp_"), "\(name)")
        }
        #expect(families["osp_library_events_total"] == "counter")
        #expect(families["osp_already_prefixed_total"] == "counter")
        #expect(metricValue(text, #"osp_build_info{version="9.9.9"}"#) == 1)
        #expect(metricValue(text, #"osp_auth_failures_total{reason="SignatureDoesNotMatch"}"#) == 1)
        #expect(metricValue(text, #"osp_callout_errors_total{backend="opa",kind="timeout"}"#) == 1)
    }

    @Test("open connections go up and down and never below zero when paired")
    func openConnections() {
        let metrics = OSPMetrics()
        metrics.connectionOpened()
        metrics.connectionOpened()
        metrics.connectionClosed()
        #expect(metricValue(metrics.registry.emitToString(), "osp_open_connections") == 1)
        metrics.connectionClosed()
        #expect(metricValue(metrics.registry.emitToString(), "osp_open_connections") == 0)
    }

    @Test("cache counters move by what changed between scrapes, single-flight joins included")
    func caches() async throws {
        let metrics = OSPMetrics()
        let cache = ShardedTTLCache<String, Int>(name: "decisions", capacity: 1)
        cache.set(1, forKey: "a", ttl: .seconds(60))
        _ = cache.value(forKey: "a")  // hit
        _ = cache.value(forKey: "b")  // miss
        cache.set(2, forKey: "c", ttl: .seconds(60))  // evicts a
        metrics.observeCaches([cache])
        var text = metrics.registry.emitToString()
        #expect(metricValue(text, #"osp_cache_hits_total{cache="decisions"}"#) == 1)
        #expect(metricValue(text, #"osp_cache_misses_total{cache="decisions"}"#) == 1)
        #expect(metricValue(text, #"osp_cache_evictions_total{cache="decisions"}"#) == 1)
        #expect(metricValue(text, #"osp_cache_entries{cache="decisions"}"#) == 1)
        #expect(metricValue(text, #"osp_cache_single_flight_joins_total{cache="decisions"}"#) == 0)

        // Two concurrent misses for one key: one load, one join.
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = loop.makePromise(of: Int.self)
        let first = cache.value(forKey: "x", on: loop, ttl: .seconds(60)) { promise.futureResult }
        let second = cache.value(forKey: "x", on: loop, ttl: .seconds(60)) { promise.futureResult }
        promise.succeed(7)
        _ = try await (first.get(), second.get())
        _ = cache.value(forKey: "x")  // hit
        metrics.observeCaches([cache])
        metrics.observeCaches([cache])  // a second scrape with no traffic moves nothing
        text = metrics.registry.emitToString()
        #expect(metricValue(text, #"osp_cache_hits_total{cache="decisions"}"#) == 2)
        #expect(metricValue(text, #"osp_cache_misses_total{cache="decisions"}"#) == 3)
        #expect(metricValue(text, #"osp_cache_single_flight_joins_total{cache="decisions"}"#) == 1)
    }
}

@Suite("Metrics: a gateway's caches")
struct GatewayCacheTests {
    @Test("every cache behind the configured stages is reported by name")
    func cachesOfTheStages() async {
        let config = OSPConfig(
            buckets: BucketMap(),
            authorization: AuthorizationSettings(backend: .opa, opa: OPASettings(url: "http://127.0.0.1:1/v1/data/osp/allow")),
            secrets: SecretsSettings(backend: .http, http: HTTPCalloutSettings(url: "http://127.0.0.1:1/secret")),
            credentials: CredentialsSettings(backend: .http, http: HTTPCalloutSettings(url: "http://127.0.0.1:1/credentials"))
        )
        let gateway = Gateway(config: config, logger: Logger(label: "test"))
        #expect(Set(gateway.caches.map(\.name)) == ["client-secrets", "backend-credentials", "iam-tokens", "decisions", "decision-scopes"])
        gateway.metrics.observeCaches(gateway.caches)
        let families = metricFamilies(gateway.metrics.registry.emitToString())
        #expect(families["osp_cache_entries"] == "gauge")
        #expect(families["osp_cache_single_flight_joins_total"] == "counter")
        await gateway.shutdown()

        // In-memory rules keep no cache: only the token cache every gateway has.
        let plain = Gateway(config: OSPConfig(buckets: BucketMap()), logger: Logger(label: "test"))
        #expect(plain.caches.map(\.name) == ["iam-tokens"])
        await plain.shutdown()
    }
}
