//! Sinks: where batches are delivered.
//!
//! The contract: [`Sink::send`] returns [`Ack::Durable`] only once the batch cannot be lost any
//! more (flushed to stdout, answered 2xx by the webhook); [`Ack::UntilFinish`] means it becomes
//! durable only when [`Sink::finish`] succeeds (the file sink renames its file into place then).
//! The run advances the cursor over a batch only once it is durable, so a sink that fails or a
//! process that dies leaves the cursor before every batch not acknowledged.
//!
//! To add a sink: implement [`Sink`] and [`SinkTarget`] in a module here, and construct its
//! target where `--sink` is read (`src/cli/export.rs`, `ExportArgs::into_config`).

#[cfg(test)]
pub mod memory;
mod webhook;
mod writer;

use std::fmt::Debug;
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

/// An open sink.
#[async_trait]
pub trait Sink: Send {
    /// Delivers one batch; see the module's contract for what each [`Ack`] promises.
    async fn send(&mut self, batch: &Batch) -> Result<Ack, SinkError>;

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
