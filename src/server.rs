//! What the long-running servers (gateway, admin page) share: listening, serving until SIGTERM
//! or Ctrl-C, and letting the requests in flight finish.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::error::Error;

/// Listens on `address`, tells `announce` the address it got (the chosen port for `:0`), then
/// serves `router` until SIGTERM or Ctrl-C and returns once the requests in flight are done.
/// `name` names the server in the last log line.
pub async fn run(
    name: &str,
    address: SocketAddr,
    router: Router,
    announce: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener
        .local_addr()
        .context("reading the listening address")?;
    announce(bound);
    serve(listener, router, shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("{name} stopped");
    Ok(())
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // With each connection's peer address, for handlers that count per client.
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
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
