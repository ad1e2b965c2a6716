//! What the long-running servers (gateway, admin page) share: listening, serving until SIGTERM
//! or Ctrl-C, letting the requests in flight finish, and the limits that keep them available
//! to legitimate clients while others hold connections open: a header deadline measured from
//! accept ([`activity`]), connections per client ([`clients`]), a minimum request-body rate
//! ([`body_rate`]), and the counts of what each limit did ([`stats`]).

pub mod activity;
pub mod body_rate;
pub mod clients;
pub mod proxy;
pub mod stats;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::error::Error;
use crate::server::activity::{Activity, Closed};
use crate::server::body_rate::{MinRate, RateLimited};
use crate::server::clients::ClientConnections;
use crate::server::proxy::TrustedProxies;
use crate::server::stats::{ConnectionStats, Limit};

/// Listens on `address`, tells `announce` the address it got (the chosen port for `:0`), then
/// serves `router` until SIGTERM or Ctrl-C and returns once the requests in flight are done.
/// `name` names the server in the last log line.
pub async fn run(
    name: &str,
    address: SocketAddr,
    router: Router,
    limits: Limits,
    stats: Arc<ConnectionStats>,
    announce: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let listener = listen(address).with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener
        .local_addr()
        .context("reading the listening address")?;
    announce(bound);
    serve(listener, router, limits, stats, shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("{name} stopped");
    Ok(())
}

/// Connections the kernel completes and queues while all of [`Limits::max_connections`] are
/// busy (capped by `net.core.somaxconn`): a burst of clients waits there instead of being
/// refused.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// How a server treats its clients' connections. Every field is a flag of the gateway and of
/// the admin page; the runbook says what each protects against and how to size it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A connection that is not serving a request may live this long: from accept until its
    /// first request's headers are complete, and between requests on a kept-alive one
    /// ([`activity`]). A client that sends nothing, a few bytes or only an HTTP/2 preface loses
    /// its connection.
    pub header_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog until one ends.
    /// Keep it well under the open-file limit (`LimitNOFILE`).
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may have open; more are closed at once.
    /// Trusted proxies are not limited.
    pub max_connections_per_client: usize,
    /// Request bodies must arrive at least this fast once the grace is over (0: no minimum);
    /// the flags make the grace the header timeout.
    pub min_body_rate: MinRate,
    /// Whose connections are not limited per client (every client behind them shares their
    /// address).
    pub trusted_proxies: TrustedProxies,
    /// After SIGTERM, how long the requests in flight may take before the server exits anyway.
    pub shutdown_deadline: Duration,
}

/// The defaults: 10 s to send headers, 512 connections, 32 per client, bodies at 16 KiB/s
/// after the header timeout, 30 s to finish after SIGTERM.
pub const DEFAULT_HEADER_TIMEOUT_SECONDS: u64 = 10;
pub const DEFAULT_MAX_CONNECTIONS: u64 = 512;
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: u64 = 32;
pub const DEFAULT_MIN_BODY_RATE_BYTES: u64 = 16 * 1024;
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: u64 = 30;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECONDS),
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT as usize,
            min_body_rate: MinRate {
                rate: DEFAULT_MIN_BODY_RATE_BYTES,
                grace: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECONDS),
            },
            trusted_proxies: TrustedProxies::default(),
            shutdown_deadline: Duration::from_secs(DEFAULT_SHUTDOWN_TIMEOUT_SECONDS),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish, for at most the shutdown deadline, before returning. Each request carries the
/// client's address (`axum::extract::ConnectInfo<SocketAddr>`); `stats` counts what the
/// limits did.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stats: Arc<ConnectionStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let clients = ClientConnections::new(limits.max_connections_per_client);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = connections.clone().acquire_owned() => slot.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or a connection reset before it was accepted:
                    // wait a little rather than spin, and keep serving the others.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let client = peer.ip();
        let client_slot = if limits.trusted_proxies.contains(client) {
            None
        } else if let Some(counted) = clients.admit(client) {
            Some(counted)
        } else {
            // Closed at once, so this client's flood holds neither a slot nor a descriptor.
            stats.limited(Limit::ConnectionsPerClient, client);
            drop(stream);
            continue;
        };
        let activity = Activity::new();
        // Each request gets the peer's address and a minimum body rate, and keeps the
        // connection busy until its response body has been handed over.
        let service = {
            let (activity, stats) = (activity.clone(), Arc::clone(&stats));
            let (router, min) = (router.clone(), limits.min_body_rate);
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let serving = activity.begin();
                let stats = Arc::clone(&stats);
                let mut request = request.map(|body| {
                    Body::new(RateLimited::new(body, min).on_too_slow(move || {
                        stats.limited(Limit::MinBodyRate, client);
                    }))
                });
                request.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move {
                    let response = router.oneshot(request).await?;
                    // The guard lives in the body, dropped once hyper has sent its last frame.
                    Ok::<_, std::convert::Infallible>(response.map(|body| {
                        Body::new(body.map_frame(move |frame| {
                            let _busy = &serving;
                            frame
                        }))
                    }))
                }
            })
        };
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        let (stats, timeout) = (Arc::clone(&stats), limits.header_timeout);
        stats.opened();
        tokio::spawn(async move {
            // A client that hangs up or times out ends its own connection only.
            tokio::select! {
                _ = connection => {}
                closed = activity.expired(timeout) => {
                    stats.limited(
                        match closed {
                            Closed::HeaderTimeout => Limit::HeaderTimeout,
                            Closed::IdleTimeout => Limit::IdleTimeout,
                        },
                        client,
                    );
                }
            }
            stats.ended();
            drop((slot, client_slot));
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_deadline) => {
            tracing::warn!(
                "requests still in flight {} s after the shutdown began; stopping without them",
                limits.shutdown_deadline.as_secs()
            );
        }
    }
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
