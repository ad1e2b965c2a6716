//! The export: read pending follow-ups from the source, deliver them to the sink batch by batch,
//! and move the cursor over each batch the sink acknowledged.

pub mod batch;
mod progress;
pub mod retry;
pub mod sink;
pub mod source;

use std::time::{Duration, Instant};

use crate::cursor::{CursorState, CursorStore, FileStore, Position};
use crate::error::{ExportError, describe_filter};
use batch::RepairCounts;
use progress::Progress;
use sink::{Ack, Sink, SinkConfig, SinkError};
use source::{Query, Source, SourceConfig};

/// Where the cursor lives, as configured.
#[derive(Debug, Clone)]
pub enum CursorStoreConfig {
    None,
    File(std::path::PathBuf),
}

/// A validated export configuration.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub source: SourceConfig,
    pub sink: SinkConfig,
    pub cursor_store: CursorStoreConfig,
    /// Rows per run; `None` drains everything pending.
    pub limit: Option<u64>,
    pub provider_id: Option<String>,
    /// `--cursor`: overrides the stored start point.
    pub start: Option<Position>,
    pub reset_cursor: bool,
    pub settle: Duration,
    pub batch_size: u64,
    /// Show a progress bar (stderr is a terminal and not `--quiet`).
    pub progress: bool,
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Rows delivered (acknowledged by the sink) in this run.
    pub rows: u64,
    /// The cursor after the run: the last row delivered, by this run or an earlier one.
    pub cursor: Option<Position>,
    pub elapsed: Duration,
    pub repairs: RepairCounts,
    /// The reader of stdout went away before everything was written.
    pub output_closed: bool,
    pub source: String,
}

impl Summary {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs one export: everything pending (up to the limit), then returns.
pub async fn run_once(config: &ExportConfig) -> Result<Summary, ExportError> {
    let started = Instant::now();
    let mut store = match &config.cursor_store {
        CursorStoreConfig::None => CursorStore::None,
        CursorStoreConfig::File(path) => CursorStore::File(FileStore::open(path)?),
    };
    let mut state = starting_state(config, &store)?;
    let source = Source::connect(&config.source).await?;
    let description = source.describe();
    let query = Query {
        after: state.position,
        provider_id: config.provider_id.clone(),
        settle: config.settle,
        limit: config.limit,
    };
    let progress = if config.progress {
        Progress::start(source.count(&query).await.ok())
    } else {
        Progress::hidden()
    };
    let mut sink = Sink::open(&config.sink)?;
    tracing::debug!(source = %description, after = ?query.after, "export started");
    let mut batches = source.stream(query, config.batch_size);

    let mut delivered = 0u64;
    let mut repairs = RepairCounts::default();
    // Accepted by the sink but not yet durable: (rows, position).
    let mut pending: Option<(u64, Position)> = None;
    let mut output_closed = false;
    while let Some(batch) = batches.recv().await {
        let batch = batch?;
        let last = batch.last.expect("a batch holds at least one row");
        match sink.send(&batch).await {
            Ok(Ack::Durable) => {
                delivered += batch.rows;
                state.position = Some(last);
                state.total_rows += batch.rows;
                store.save(&state, delivered)?;
            }
            Ok(Ack::UntilFinish) => {
                let rows = pending.map_or(0, |(rows, _)| rows) + batch.rows;
                pending = Some((rows, last));
            }
            Err(SinkError::Closed) => {
                output_closed = true;
                break;
            }
            Err(SinkError::Failed(e)) => return Err(e.into()),
        }
        repairs += batch.repairs;
        progress.advance(batch.rows);
    }
    drop(batches);
    sink.finish().await.map_err(|e| match e {
        SinkError::Closed => {
            anyhow::anyhow!("the output was closed before the export was complete")
        }
        SinkError::Failed(e) => e,
    })?;
    if let Some((rows, last)) = pending {
        delivered += rows;
        state.position = Some(last);
        state.total_rows += rows;
    }
    // Saved even when nothing was new, so `updatedAt` shows the feed is alive.
    store.save(&state, delivered)?;
    progress.finish();
    Ok(Summary {
        rows: delivered,
        cursor: state.position,
        elapsed: started.elapsed(),
        repairs,
        output_closed,
        source: description,
    })
}

/// The state the run starts from: the stored cursor checked against this run's filter, or a
/// fresh one on `--reset-cursor`, with `--cursor` overriding the position.
fn starting_state(config: &ExportConfig, store: &CursorStore) -> Result<CursorState, ExportError> {
    let stored = if config.reset_cursor {
        None
    } else {
        store.load()?
    };
    let mut state = match stored {
        Some(stored) if !stored.legacy && stored.provider_id != config.provider_id => {
            return Err(ExportError::CursorMismatch {
                path: store.describe(),
                stored: describe_filter(stored.provider_id.as_deref()),
                requested: describe_filter(config.provider_id.as_deref()),
            });
        }
        Some(stored) => {
            if stored.legacy
                && let Some(position) = stored.position
            {
                tracing::warn!(
                    cursor = %position.created_at,
                    "legacy cursor file (timestamp only): rows at exactly that instant are sent again; \
                     the file is rewritten in the current format after this run"
                );
            }
            stored
        }
        None => CursorState::default(),
    };
    state.provider_id = config.provider_id.clone();
    state.legacy = false;
    if let Some(start) = config.start {
        state.position = Some(start);
    }
    Ok(state)
}
