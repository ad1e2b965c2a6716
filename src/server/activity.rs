//! The deadline that closes a connection which is not sending a request.
//!
//! hyper's own header timeout does not cover the whole gap: hyper-util's HTTP/1-or-HTTP/2
//! detection reads the first bytes with no timer at all, HTTP/1's timer starts only once the
//! protocol is known, and HTTP/2 has none (hyperium/hyper #3185, #3454). So a peer that sends
//! nothing, a few bytes or only the HTTP/2 preface would hold its connection until it hangs up.
//! Here the clock starts at accept and restarts whenever the connection falls idle: while no
//! request is being served (from accept to the first request's headers, and between requests
//! on a kept-alive or HTTP/2 connection), the connection may live [`Limits::header_timeout`]
//! (crate::server::Limits) at most. A request counts as served from the moment its headers are
//! complete until its response body has been handed over.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Why a connection was closed by the server rather than by its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// It never completed a request's headers within the header timeout.
    HeaderTimeout,
    /// It sent nothing for the header timeout after its last response.
    IdleTimeout,
}

#[derive(Debug, Clone, Copy)]
struct State {
    /// Requests whose headers arrived and whose responses are not fully handed over.
    serving: usize,
    /// Requests begun on this connection so far.
    begun: u64,
    /// Since when nothing has been served.
    idle_since: Instant,
}

/// One connection's activity, shared by the requests on it and the deadline that watches it.
#[derive(Debug, Clone)]
pub struct Activity {
    state: Arc<watch::Sender<State>>,
}

/// A request being served; the connection counts as idle again when the last one is dropped.
#[derive(Debug)]
pub struct Serving {
    state: Arc<watch::Sender<State>>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.state.send_modify(|s| {
            s.serving -= 1;
            if s.serving == 0 {
                s.idle_since = Instant::now();
            }
        });
    }
}

impl Default for Activity {
    fn default() -> Activity {
        Activity::new()
    }
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Activity {
        let (state, _) = watch::channel(State {
            serving: 0,
            begun: 0,
            idle_since: Instant::now(),
        });
        Activity {
            state: Arc::new(state),
        }
    }

    /// A request's headers are complete: the connection is busy until the guard is dropped.
    pub fn begin(&self) -> Serving {
        self.state.send_modify(|s| {
            s.serving += 1;
            s.begun += 1;
        });
        Serving {
            state: Arc::clone(&self.state),
        }
    }

    /// Completes once the connection has been idle for `timeout`; pending while it serves.
    pub async fn expired(&self, timeout: Duration) -> Closed {
        let mut changes = self.state.subscribe();
        loop {
            let state = *changes.borrow_and_update();
            if state.serving > 0 {
                // The sender lives as long as `self`, so this only waits for the next change.
                let _ = changes.changed().await;
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep_until(state.idle_since + timeout) => {
                    return if state.begun == 0 {
                        Closed::HeaderTimeout
                    } else {
                        Closed::IdleTimeout
                    };
                }
                _ = changes.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_nothing_expires_at_the_header_timeout_from_accept() {
        let accepted = Instant::now();
        let activity = Activity::new();
        assert_eq!(activity.expired(TIMEOUT).await, Closed::HeaderTimeout);
        assert_eq!(accepted.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_never_expires_and_the_idle_clock_restarts_after_it() {
        let activity = Activity::new();
        tokio::time::sleep(Duration::from_secs(9)).await;
        let serving = activity.begin();
        let watcher = activity.clone();
        let deadline = tokio::spawn(async move { watcher.expired(TIMEOUT).await });
        // An hour-long response (a large download) keeps the connection.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!deadline.is_finished());
        let done = Instant::now();
        drop(serving);
        assert_eq!(deadline.await.unwrap(), Closed::IdleTimeout);
        assert_eq!(done.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_requests_keep_it_busy_until_the_last_one_ends() {
        let activity = Activity::new();
        let (a, b) = (activity.begin(), activity.begin());
        let watcher = activity.clone();
        let deadline = tokio::spawn(async move { watcher.expired(TIMEOUT).await });
        tokio::time::sleep(Duration::from_secs(20)).await;
        drop(a);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(!deadline.is_finished());
        let last = Instant::now();
        drop(b);
        assert_eq!(deadline.await.unwrap(), Closed::IdleTimeout);
        assert_eq!(last.elapsed(), TIMEOUT);
    }
}
