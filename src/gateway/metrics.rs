//! The gateway's Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::server::stats::ConnectionStats;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// `stored`, or why the batch was refused (`invalid`, `unauthorized`, `too_large`, …).
    outcome: &'static str,
    status: u16,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    rows_stored: Counter,
    batches_stored: Counter,
    bytes_stored: Counter,
    request_bytes: Counter,
    duration: Histogram,
    connections: Arc<ConnectionStats>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("guardrail_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        let rows_stored = Counter::default();
        let batches_stored = Counter::default();
        let bytes_stored = Counter::default();
        let request_bytes = Counter::default();
        // 1 ms to ~33 s.
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "requests",
            "Batch requests answered, by outcome and HTTP status",
            requests.clone(),
        );
        registry.register(
            "rows_stored",
            "Rows written to the lake (a resent batch counts again)",
            rows_stored.clone(),
        );
        registry.register(
            "batches_stored",
            "NDJSON objects written to the lake",
            batches_stored.clone(),
        );
        registry.register(
            "bytes_stored",
            "NDJSON bytes written to the lake",
            bytes_stored.clone(),
        );
        registry.register(
            "request_body_bytes",
            "Request body bytes received, as sent (before gunzip)",
            request_bytes.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a batch request",
            duration.clone(),
        );
        let connections = Arc::new(ConnectionStats::default());
        connections.register(&mut registry);
        Metrics {
            connections,
            registry,
            requests,
            rows_stored,
            batches_stored,
            bytes_stored,
            request_bytes,
            duration,
        }
    }

    /// What the connection limits did, for the server to count into.
    pub fn connections(&self) -> Arc<ConnectionStats> {
        Arc::clone(&self.connections)
    }

    /// Counts one answered batch request.
    pub fn request(&self, outcome: &'static str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels { outcome, status })
            .inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    pub fn received(&self, body_bytes: usize) {
        self.request_bytes.inc_by(body_bytes as u64);
    }

    pub fn stored(&self, rows: usize, bytes: usize) {
        self.batches_stored.inc();
        self.rows_stored.inc_by(rows as u64);
        self.bytes_stored.inc_by(bytes as u64);
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}
