//! What the long-running servers (gateway, admin page) share: why one did not start, and the
//! signal that stops it.

use std::process::ExitCode;

use crate::error::exit;

/// Why a server did not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A flag or setting to fix.
    #[error("{0}")]
    Config(String),
    /// The machine refused: the address is taken, the runtime did not start…
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
}

impl StartError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            StartError::Config(_) => exit::CONFIG,
            StartError::Runtime(_) => exit::RUNTIME,
        })
    }
}

/// The exit code of a server's run, logging the error chain once.
pub fn exit_code(result: Result<(), StartError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            error.exit_code()
        }
    }
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
