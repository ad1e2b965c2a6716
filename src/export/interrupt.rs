//! Stopping a run on SIGTERM (systemd's stop, a cancelled Actions step) or SIGINT (Ctrl-C):
//! the run takes no new batch, lets the batches in flight finish for a bounded time, keeps the
//! cursor at what was acknowledged, releases its lock, and ends with 143 or 130.

use std::time::Duration;

use tokio::sync::watch;

pub use crate::error::Signal;

/// How long the batches in flight may take to be acknowledged after a signal.
pub const GRACE: Duration = Duration::from_secs(20);

/// Whether a stop was asked for. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Interrupt {
    rx: watch::Receiver<Option<Signal>>,
}

impl Interrupt {
    /// Never fires (tests, and before the runtime exists).
    pub fn never() -> Interrupt {
        let (tx, rx) = watch::channel(None);
        // The sender lives for the process, so `changed` waits forever instead of failing.
        std::mem::forget(tx);
        Interrupt { rx }
    }

    /// Fires when the test sends a signal on the returned sender.
    #[cfg(test)]
    pub fn manual() -> (Interrupt, watch::Sender<Option<Signal>>) {
        let (tx, rx) = watch::channel(None);
        (Interrupt { rx }, tx)
    }

    /// Listens for SIGTERM and SIGINT from now on; call inside the runtime.
    pub fn listen() -> Interrupt {
        let (tx, rx) = watch::channel(None);
        // The handlers are installed here, before the run starts, not when the task first
        // runs: on a busy machine that can be after the run connected, and a signal then would
        // end the process without a word.
        let signals = Signals::install();
        tokio::spawn(async move {
            let signal = signals.wait().await;
            tracing::warn!(
                "{} received: stopping after the batches in flight (at most {} s)",
                signal.name(),
                GRACE.as_secs()
            );
            let _ = tx.send(Some(signal));
            // Keep the channel open so that waiting clones stay pending, not failed.
            std::future::pending::<()>().await;
        });
        Interrupt { rx }
    }

    pub fn received(&self) -> Option<Signal> {
        *self.rx.borrow()
    }

    /// Resolves when a signal has arrived.
    pub async fn wait(&self) -> Signal {
        let mut rx = self.rx.clone();
        loop {
            if let Some(signal) = *rx.borrow_and_update() {
                return signal;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Resolves `grace` after a signal has arrived.
    pub async fn grace_over(&self, grace: Duration) -> Signal {
        let signal = self.wait().await;
        tokio::time::sleep(grace).await;
        signal
    }
}

/// SIGTERM and SIGINT, their handlers installed.
#[cfg(unix)]
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

#[cfg(unix)]
impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Signals(Some((term, int))),
            _ => Signals(None),
        }
    }

    async fn wait(self) -> Signal {
        match self.0 {
            Some((mut term, mut int)) => tokio::select! {
                _ = term.recv() => Signal::Term,
                _ = int.recv() => Signal::Int,
            },
            None => std::future::pending().await,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Signals {
        Signals
    }

    async fn wait(self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Int
    }
}
