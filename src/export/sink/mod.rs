//! Sinks: where batches are delivered.
//!
//! The contract: the delivery [`Sink::send`] starts resolves to [`Ack::Durable`] only once the
//! batch cannot be lost any more (flushed to stdout, answered 2xx by the webhook);
//! [`Ack::UntilFinish`] means it becomes durable only when [`Sink::finish`] succeeds (the file
//! sink renames its file into place then).
//!
//! A sink may have up to [`Sink::in_flight`] deliveries pending at once (the webhook: its
//! `--webhook-concurrency`; stdout and the file: one). They may complete in any order, and an
//! acknowledgement says nothing about the batches before it: the run takes the results in the
//! order the batches were started and advances the cursor only over the contiguous prefix of
//! acknowledged ones, so a sink that fails or a process that dies leaves the cursor before
//! every batch not acknowledged — with at most `in_flight` batches sent that the cursor does
//! not cover.
//!
//! To add a sink: implement [`Sink`] and [`SinkTarget`] in a module here, and construct its
//! target where `--sink` is read (`src/cli/export.rs`, `ExportArgs::into_config`).

#[cfg(test)]
pub mod memory;
mod webhook;
mod writer;

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

pub use webhook::{WebhookConfig, WebhookSink};
pub use writer::{FileTarget, StdoutTarget};

use crate::error::Error;
use crate::export::batch::Batch;
use crate::verdict::Check;

/// Where rows go, as configured.
pub type SinkConfig = Arc<dyn SinkTarget>;

/// A sink as configured, before it is opened.
#[async_trait]
pub trait SinkTarget: Debug + Send + Sync {
    /// Opens the sink for one run.
    fn open(&self) -> Result<Box<dyn Sink>, Error>;

    /// `check`: whether the sink could take a batch now, without delivering anything.
    async fn check(&self) -> Check;
}

/// One batch being delivered: it owns what it needs (the batch, a clone of the sink's client),
/// so several can be pending while the run reads the next batch.
pub type Delivery = Pin<Box<dyn Future<Output = Result<Ack, SinkError>> + Send + 'static>>;

/// An open sink.
#[async_trait]
pub trait Sink: Send {
    /// How many deliveries may be pending at once (at least 1). The run starts no more than
    /// this many before the oldest has completed.
    fn in_flight(&self) -> usize {
        1
    }

    /// Starts delivering one batch, with its own retries; see the module's contract for what
    /// each [`Ack`] promises and what several pending deliveries mean.
    fn send(&mut self, batch: Batch) -> Delivery;

    /// Makes every accepted batch durable. Called once, after the last batch.
    async fn finish(self: Box<Self>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// What a successful `send` guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Delivered: the cursor may move past this batch now.
    Durable,
    /// Accepted, but durable only once `finish` succeeds.
    UntilFinish,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The reader went away (stdout closed, as by `| head`): a normal end of the run.
    #[error("the output was closed by its reader")]
    Closed,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}
