//! The ingest gateway: receives the exporter's webhook batches and lands each one as an NDJSON
//! object in the lake (a local folder or S3), where the Snowflake stage reads it.
//!
//! `POST /v1/followups` takes `{"followUps": [...]}` (see [`crate::wire`] for the headers),
//! checks the signature or bearer token, caps and gunzips the body, validates every row
//! ([`batch`]), and answers 200 only once the object is durable ([`lake`]). A bad batch is
//! refused whole with a 4xx that says what to fix; storage trouble is a 503 that the exporter
//! retries. `GET /healthz` and `GET /metrics` are for operators.

pub mod auth;
pub mod batch;
pub mod body;
pub mod config;
pub mod error;
pub mod handlers;
pub mod lake;
pub mod metrics;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::error::Error;
use crate::server::proxy::TrustedProxies;

pub use auth::Auth;
pub use config::GatewayConfig;
pub use lake::{Lake, LakeStore, LakeUri, MemoryLake, S3Options};
pub use metrics::Metrics;

/// Where the exporter's `--webhook-url` points: `http://host:port/v1/followups`.
pub const INGEST_PATH: &str = "/v1/followups";

/// Batches decompressed and parsed at once; the others wait their turn.
const VALIDATING_AT_ONCE: usize = 8;

/// Bytes of request bodies read at once by default, across connections (64 MiB).
pub const DEFAULT_BYTES_IN_FLIGHT: usize = 64 * 1024 * 1024;

/// Bytes of request bodies read at once by default from one client (16 MiB).
pub const DEFAULT_BYTES_IN_FLIGHT_PER_CLIENT: usize = 16 * 1024 * 1024;

/// What every request handler shares.
#[derive(Debug)]
pub struct GatewayState {
    pub auth: Auth,
    pub lake: Lake,
    pub max_body_bytes: usize,
    pub metrics: Metrics,
    /// Bounds the batches being decompressed and parsed at once (see [`handlers::ingest`]).
    pub validating: tokio::sync::Semaphore,
    /// Bounds the body bytes being read at once, in all and per client.
    pub reading: body::ReadBudget,
    /// Whose `X-Forwarded-For` names the client a body is counted for.
    pub trusted_proxies: TrustedProxies,
}

/// How many body bytes are read at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The largest body accepted.
    pub max_body_bytes: usize,
    /// Across every connection (raised to one largest body).
    pub in_flight: usize,
    /// From one client (raised to one largest body, at most `in_flight`).
    pub in_flight_per_client: usize,
}

impl Budget {
    /// The defaults with bodies of at most `max_body_bytes`.
    pub fn new(max_body_bytes: usize) -> Budget {
        Budget {
            max_body_bytes,
            in_flight: DEFAULT_BYTES_IN_FLIGHT,
            in_flight_per_client: DEFAULT_BYTES_IN_FLIGHT_PER_CLIENT,
        }
    }
}

impl GatewayState {
    pub fn new(lake: Lake, auth: Auth, max_body_bytes: usize) -> Arc<GatewayState> {
        GatewayState::with_budget(
            lake,
            auth,
            Budget::new(max_body_bytes),
            TrustedProxies::default(),
        )
    }

    pub fn with_budget(
        lake: Lake,
        auth: Auth,
        budget: Budget,
        trusted_proxies: TrustedProxies,
    ) -> Arc<GatewayState> {
        let max = budget.max_body_bytes;
        Arc::new(GatewayState {
            auth,
            lake,
            max_body_bytes: max,
            metrics: Metrics::new(),
            validating: tokio::sync::Semaphore::new(VALIDATING_AT_ONCE),
            reading: body::ReadBudget::new(
                budget.in_flight.max(max),
                budget.in_flight_per_client.max(max),
            ),
            trusted_proxies,
        })
    }
}

/// The gateway's routes.
pub fn router(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route(INGEST_PATH, post(handlers::ingest))
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` completes, then lets the requests in
/// flight finish before returning.
pub async fn serve(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stats = state.metrics.connections();
    crate::server::serve(
        listener,
        router(state),
        crate::server::Limits::default(),
        stats,
        shutdown,
    )
    .await
}

/// `guardrail-followups gateway`: opens the lake, listens until SIGTERM or Ctrl-C.
pub fn run(config: GatewayConfig) -> Result<(), Error> {
    crate::runtime()?.block_on(run_async(config))
}

async fn run_async(config: GatewayConfig) -> Result<(), Error> {
    let lake = Lake::open(&config.lake, &config.s3).map_err(|e| Error::config(format!("{e:#}")))?;
    lake.prepare()
        .await
        .map_err(|e| Error::config(format!("{e:#}")))?;
    let open = config.auth.is_open();
    let described = lake.describe();
    let budget = Budget {
        max_body_bytes: config.max_body_bytes,
        in_flight: config.bytes_in_flight,
        in_flight_per_client: config.bytes_in_flight_per_client,
    };
    let proxies = config.limits.trusted_proxies.clone();
    let state = GatewayState::with_budget(lake, config.auth, budget, proxies);
    let stats = state.metrics.connections();
    let routes = router(state);
    crate::server::run(
        "gateway",
        config.listen,
        routes,
        config.limits,
        stats,
        |address| {
            if open {
                tracing::warn!(
                    "no --secret or --token: any process on this machine may post batches; \
                 set {} or {} before exposing the gateway",
                    crate::env_vars::GATEWAY_SECRET,
                    crate::env_vars::GATEWAY_TOKEN
                );
            }
            tracing::info!(
                address = %address,
                lake = %described,
                "gateway listening on http://{address}{INGEST_PATH}; lake {described}"
            );
        },
    )
    .await
}
