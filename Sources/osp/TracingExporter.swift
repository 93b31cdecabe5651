import Logging
import OSPCore
import ServiceLifecycle
import Tracing

#if OpenTelemetry
import OTel
#endif

/// The OTLP/HTTP span exporter the config's `tracing:` section asks for, installed as the process
/// tracer before the gateway is built (the gateway picks the tracer up then).
///
/// Only this binary's own signal is exported: osp keeps its own logging and its Prometheus
/// metrics, so swift-otel is set up for traces alone (its log and metric backends would try to
/// bootstrap swift-log and swift-metrics a second time). `OTEL_*` environment variables still
/// override what swift-otel reads (e.g. `OTEL_BSP_SCHEDULE_DELAY`).
enum TracingExporter {
    /// Installs the exporter and returns the service that batches and sends spans (run it in the
    /// service group, first, so it is shut down last and flushes what the server recorded); nil
    /// without a `tracing` section.
    static func install(_ settings: TracingSettings?, logger: Logger) throws -> (any Service)? {
        guard let settings else { return nil }
        #if OpenTelemetry
        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.propagators = [.traceContext]
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.otlpExporter.endpoint = settings.tracesURL
        // A client's sampled traceparent is followed; new traces are kept at the configured ratio.
        configuration.traces.sampler = .parentBasedTraceIDRatio(ratio: settings.sampleRatio) ?? .parentBasedAlwaysOn
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        logger.info(
            "tracing: spans exported over OTLP/HTTP",
            metadata: ["endpoint": "\(settings.tracesURL)", "service_name": "\(settings.serviceName)", "sample_ratio": "\(settings.sampleRatio)"]
        )
        return backend.service
        #else
        // The config loader refuses a tracing section in a build without the exporter.
        throw TracingNotCompiledIn()
        #endif
    }
}

/// A `tracing` section reached a binary built without the `OpenTelemetry` trait.
struct TracingNotCompiledIn: Error, CustomStringConvertible {
    var description: String { "this osp binary was built without OpenTelemetry (swift build --traits OpenTelemetry)" }
}
