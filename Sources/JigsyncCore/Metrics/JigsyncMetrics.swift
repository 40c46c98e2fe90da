import CoreMetrics
import Foundation
import Metrics
import struct Prometheus.PrometheusMetricsFactory
import class Prometheus.PrometheusCollectorRegistry

/// What the daemon counts, through swift-metrics: with `metrics.listen` set the daemon bootstraps
/// a Prometheus registry behind it; otherwise swift-metrics' no-op handlers make every call free.
///
/// The handlers are created on first use, after `bootstrap` (the daemon bootstraps before it
/// builds anything that counts). Gauges that describe state (files due, in flight, rows by
/// state) are not kept up to date on the data path: `MetricsServer` refreshes them per scrape.
enum JigsyncMetrics {
    static let uploaded = CoreMetrics.Counter(label: "jigsync_uploads_total", dimensions: [("result", "uploaded")])
    static let uploadFailed = CoreMetrics.Counter(label: "jigsync_uploads_total", dimensions: [("result", "failed")])
    static let uploadRetried = CoreMetrics.Counter(label: "jigsync_uploads_total", dimensions: [("result", "retried")])
    static let uploadSkipped = CoreMetrics.Counter(label: "jigsync_uploads_total", dimensions: [("result", "skipped")])
    static let bytesSent = CoreMetrics.Counter(label: "jigsync_upload_bytes_total")
    static let throttled = CoreMetrics.Counter(label: "jigsync_http_429_total")
    static let lastUpload = CoreMetrics.Gauge(label: "jigsync_last_upload_timestamp_seconds")
    /// From the file's last modification (its close, for a writer that closes) to the store's 200.
    static let closeToStored = Metrics.Timer(label: "jigsync_close_to_stored_seconds")
    static let filesDue = CoreMetrics.Gauge(label: "jigsync_files_due")
    static let inFlight = CoreMetrics.Gauge(label: "jigsync_uploads_in_flight")
    static let watches = CoreMetrics.Gauge(label: "jigsync_watches")
    static let overflows = CoreMetrics.Counter(label: "jigsync_overflows_total")
    static let rescans = CoreMetrics.Counter(label: "jigsync_rescans_total")

    /// Why an upload (or remote delete) is tried again.
    enum RetryReason: String, CaseIterable {
        case throttled, server, network, changed, unconfirmed, unreachable
    }

    static let retries: [RetryReason: CoreMetrics.Counter] = Dictionary(uniqueKeysWithValues: RetryReason.allCases.map {
        ($0, CoreMetrics.Counter(label: "jigsync_retries_total", dimensions: [("reason", $0.rawValue)]))
    })

    static func retried(_ reason: RetryReason) { retries[reason]?.increment() }

    /// The reason for a passing failure the store reported.
    static func reason(for error: StoreError) -> RetryReason {
        if error.status == 429 { return .throttled }
        if error.disposition == .unconfirmed { return .unconfirmed }
        return error.status == nil ? .network : .server
    }

    static let actions: [String: CoreMetrics.Counter] = Dictionary(uniqueKeysWithValues: ["done", "failed", "retried", "superseded"].map {
        ($0, CoreMetrics.Counter(label: "jigsync_actions_total", dimensions: [("result", $0)]))
    })

    static func action(_ result: String) { actions[result]?.increment() }

    static let rows: [FileState: CoreMetrics.Gauge] = Dictionary(uniqueKeysWithValues: FileState.allCases.map {
        ($0, CoreMetrics.Gauge(label: "jigsync_ledger_rows", dimensions: [("state", $0.rawValue)]))
    })

    /// Records a stored upload: the count, the bytes, the time, and the close-to-stored latency.
    static func stored(bytes: Int64, modifiedAtNanoseconds: Int64) {
        uploaded.increment()
        bytesSent.increment(by: Int(bytes))
        let now = Date().timeIntervalSince1970
        lastUpload.record(now)
        let latency = Int64(now * 1e9) - modifiedAtNanoseconds
        if latency >= 0 { closeToStored.recordNanoseconds(latency) }
    }

    /// Latency buckets: an upload on a quiet daemon takes milliseconds; a busy one, seconds.
    static let latencyBuckets: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                             .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                             .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60)]

    /// Installs a Prometheus registry behind swift-metrics (once per process) and returns it.
    static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = latencyBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
