//! What the connection limits did: connections open, and connections closed or refused by each
//! limit. The gateway serves these at `/metrics`; every server logs a warning when a limit
//! starts refusing (at most once a minute per limit, so an attack does not flood the log).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

/// The limit that ended a connection or a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// No complete request header within the header timeout of accept.
    HeaderTimeout,
    /// Nothing sent within the header timeout after the last response.
    IdleTimeout,
    /// The client already had its connections open.
    ConnectionsPerClient,
    /// The request body arrived slower than the minimum rate.
    MinBodyRate,
}

impl Limit {
    const ALL: [Limit; 4] = [
        Limit::HeaderTimeout,
        Limit::IdleTimeout,
        Limit::ConnectionsPerClient,
        Limit::MinBodyRate,
    ];

    /// The `limit` label.
    pub fn label(self) -> &'static str {
        match self {
            Limit::HeaderTimeout => "header_timeout",
            Limit::IdleTimeout => "idle_timeout",
            Limit::ConnectionsPerClient => "connections_per_client",
            Limit::MinBodyRate => "min_body_rate",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Limit::HeaderTimeout => {
                "closing connections that sent no complete request header in time \
                 (--header-timeout-seconds)"
            }
            Limit::IdleTimeout => {
                "closing kept-alive connections idle past --header-timeout-seconds"
            }
            Limit::ConnectionsPerClient => {
                "refusing connections from a client that already has \
                 --max-connections-per-client open"
            }
            Limit::MinBodyRate => {
                "dropping request bodies slower than --min-body-rate-bytes (answered 408)"
            }
        }
    }
}

impl EncodeLabelValue for Limit {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.label())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: Limit,
}

/// How often a limit's warning may be logged.
const WARN_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: Gauge,
    closed: Family<LimitLabels, Counter>,
    warned: Mutex<Vec<(Limit, Instant)>>,
}

impl ConnectionStats {
    /// Adds `connections_open` and `connections_closed_by_limit_total` to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        for limit in Limit::ALL {
            // Every limit shows, at 0 until it acts, so alert rules can rely on the series.
            let _ = self.closed.get_or_create(&LimitLabels { limit });
        }
        registry.register(
            "connections_open",
            "Client connections open now",
            self.open.clone(),
        );
        registry.register(
            "connections_closed_by_limit",
            "Connections closed or refused, and request bodies dropped, by the limit that acted",
            self.closed.clone(),
        );
    }

    pub fn opened(&self) {
        self.open.inc();
    }

    pub fn ended(&self) {
        self.open.dec();
    }

    /// Counts one connection (or body) ended by `limit`.
    pub fn limited(&self, limit: Limit, client: std::net::IpAddr) {
        self.closed.get_or_create(&LimitLabels { limit }).inc();
        let now = Instant::now();
        let mut warned = self.warned.lock().expect("not poisoned");
        let last = warned.iter_mut().find(|(l, _)| *l == limit);
        let due = match last {
            Some((_, at)) if now.duration_since(*at) < WARN_EVERY => false,
            Some((_, at)) => {
                *at = now;
                true
            }
            None => {
                warned.push((limit, now));
                true
            }
        };
        if due {
            tracing::warn!(
                limit = ?limit,
                client = %client,
                "{} (e.g. {client}); this warning repeats at most once a minute",
                limit.describe()
            );
        }
    }

    /// Connections and bodies ended by `limit` so far.
    pub fn count(&self, limit: Limit) -> u64 {
        self.closed.get_or_create(&LimitLabels { limit }).get()
    }
}
