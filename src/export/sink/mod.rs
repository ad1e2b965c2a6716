//! Sinks: where batches are delivered.
//!
//! The contract: [`Sink::send`] returns [`Ack::Durable`] only once the batch cannot be lost any
//! more (flushed to stdout, answered 2xx by the webhook); [`Ack::UntilFinish`] means it becomes durable only when
//! [`Sink::finish`] succeeds (the file sink renames its file into place then). The run advances
//! the cursor over a batch only once it is durable.

mod webhook;
mod writer;

use std::path::PathBuf;

pub use webhook::{WebhookConfig, WebhookSink};
pub use writer::{FileSink, StdoutSink};

use crate::export::batch::Batch;

/// Where rows go, as configured.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    Stdout,
    File(PathBuf),
    Webhook(WebhookConfig),
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

pub enum Sink {
    Stdout(StdoutSink),
    File(FileSink),
    Webhook(WebhookSink),
}

impl Sink {
    pub fn open(config: &SinkConfig) -> Result<Sink, crate::error::Error> {
        Ok(match config {
            SinkConfig::Stdout => Sink::Stdout(StdoutSink::new()),
            SinkConfig::File(path) => Sink::File(FileSink::create(path)?),
            SinkConfig::Webhook(config) => Sink::Webhook(WebhookSink::new(config.clone())?),
        })
    }

    pub async fn send(&mut self, batch: &Batch) -> Result<Ack, SinkError> {
        match self {
            Sink::Stdout(sink) => sink.send(batch),
            Sink::File(sink) => sink.send(batch),
            Sink::Webhook(sink) => sink.send(batch).await,
        }
    }

    /// Makes every accepted batch durable. Called once, after the last batch.
    pub async fn finish(self) -> Result<(), SinkError> {
        match self {
            Sink::Stdout(_) | Sink::Webhook(_) => Ok(()),
            Sink::File(sink) => sink.finish(),
        }
    }
}
