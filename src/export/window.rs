//! The batches in flight: deliveries started in batch order, each running as its own task so
//! that they progress while the run reads, acknowledges and saves, and whose results are handed
//! back strictly in the order they were started — however they complete.
//!
//! Memory: a delivery owns its batch (and the webhook its request body) until it completes, and
//! the window takes no new batch while it holds `capacity` — completed ones waiting behind an
//! older one included. With the source's channel of a few batches before it, a run holds at
//! most `capacity` + the channel's batches (+ the one being filled), whatever the backlog.

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::task::JoinHandle;

use super::sink::{Ack, Delivery, SinkError};

type Done<T> = (Result<Ack, SinkError>, T);

/// Up to `capacity` deliveries, each with what the run needs once it is acknowledged (`T`).
pub(super) struct Window<T> {
    capacity: usize,
    queue: FuturesOrdered<futures_util::future::BoxFuture<'static, Done<T>>>,
}

/// Aborts the task when the run gives up on it (a failed save, the grace period over), so no
/// delivery outlives its run.
struct AbortOnDrop(JoinHandle<Result<Ack, SinkError>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T: Send + 'static> Window<T> {
    pub(super) fn new(capacity: usize) -> Window<T> {
        Window {
            capacity: capacity.max(1),
            queue: FuturesOrdered::new(),
        }
    }

    /// Whether another delivery may start.
    pub(super) fn has_room(&self) -> bool {
        self.queue.len() < self.capacity
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Starts `delivery`; its result comes back with `then`, after those started before it.
    pub(super) fn start(&mut self, delivery: Delivery, then: T) {
        let mut task = AbortOnDrop(tokio::spawn(delivery));
        self.queue.push_back(Box::pin(async move {
            let result = match (&mut task.0).await {
                Ok(result) => result,
                Err(e) => Err(SinkError::Failed(anyhow::anyhow!(
                    "a delivery stopped unexpectedly: {e}"
                ))),
            };
            (result, then)
        }));
    }

    /// The oldest delivery's result, once it is complete; `None` when nothing is in flight.
    pub(super) async fn next(&mut self) -> Option<Done<T>> {
        self.queue.next().await
    }
}
