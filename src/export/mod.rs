//! The export: read pending follow-ups from the source, deliver them to the sink batch by batch,
//! and move the cursor over each batch the sink acknowledged.

pub mod audit;
pub mod batch;
mod interrupt;
mod progress;
pub mod retry;
pub mod sink;
pub mod source;
mod summary;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cursor::{CursorState, CursorStore, CursorStoreConfig, Position};
use crate::error::{Error, describe_filter};
use crate::time::Timestamp;
use audit::{AuditConfig, AuditState, Fingerprint, bucket_of, bucket_start};
use batch::{Batching, RepairCounts};
pub use interrupt::{GRACE, Interrupt, Signal};
use progress::Progress;
use sink::{Ack, Sink, SinkConfig, SinkError};
use source::{Query, Source, SourceConfig};
pub use summary::{LateRows, Summary};

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
    /// The late-row audit's window and bucket.
    pub audit: AuditConfig,
    /// Hold back before the oldest open transaction (PostgreSQL), ignoring ones open longer.
    pub hold_back: Option<Duration>,
    /// Show a progress bar (stderr is a terminal and not `--quiet`).
    pub progress: bool,
    /// SIGTERM/SIGINT: stop after the batch in flight.
    pub interrupt: Interrupt,
}

/// `work`, or [`Error::Interrupted`] (saying what was `delivered`) as soon as a signal
/// arrives.
async fn unless_interrupted<T, E: From<Error>>(
    interrupt: &Interrupt,
    work: impl Future<Output = Result<T, E>>,
    delivered: impl FnOnce() -> String,
) -> Result<T, E> {
    tokio::select! {
        biased;
        signal = interrupt.wait() => Err(Error::Interrupted { signal, delivered: delivered() }.into()),
        result = work => result,
    }
}

/// What an interrupted run delivered, for its message.
fn delivered_so_far(ledger: &Ledger<'_>) -> String {
    let cursor = ledger
        .state
        .position
        .map_or_else(|| "none".into(), |p| p.to_string());
    format!(
        "{} rows delivered by this run are in the cursor (now {cursor})",
        ledger.run_rows
    )
}

/// Runs one export: everything pending (up to the limit), then the late-row audit.
pub async fn run_once(config: &ExportConfig) -> Result<Summary, Error> {
    let started = Instant::now();
    let mut store = CursorStore::open(&config.cursor_store).await?;
    let result = run_locked(config, &mut store, started).await;
    store.close().await;
    result
}

/// The run, once the cursor store's lock is held.
async fn run_locked(
    config: &ExportConfig,
    store: &mut CursorStore,
    started: Instant,
) -> Result<Summary, Error> {
    let state = starting_state(config, store).await?;
    let nothing_yet = || "nothing was delivered yet".to_owned();
    let source = unless_interrupted(
        &config.interrupt,
        Source::connect(&config.source),
        nothing_yet,
    )
    .await?;
    let description = source.describe();
    let query = Query {
        after: state.position,
        provider_id: config.provider_id.clone(),
        settle: config.settle,
        hold_back: config.hold_back,
        limit: config.limit,
        ..Query::default()
    };
    let progress = if config.progress {
        let count = async { Ok::<_, Error>(source.count(&query).await.ok()) };
        Progress::start(unless_interrupted(&config.interrupt, count, nothing_yet).await?)
    } else {
        Progress::hidden()
    };
    let mut sink = Sink::open(&config.sink)?;
    let mut ledger = Ledger {
        store,
        state,
        run_rows: 0,
        pending: Vec::new(),
        first_bucket: config.audit.first_bucket(Timestamp::now()),
    };
    let batching = Batching {
        size: config.batch_size,
        bucket_micros: config.audit.bucket_micros(),
    };
    tracing::debug!(source = %description, after = ?query.after, "export started");

    let mut repairs = RepairCounts::default();
    let mut output_closed = false;
    let mut batches = source.stream(query, batching);
    loop {
        let next = unless_interrupted(
            &config.interrupt,
            async { Ok::<_, Error>(batches.recv().await) },
            || delivered_so_far(&ledger),
        )
        .await?;
        let Some(batch) = next else { break };
        let batch = batch?;
        let effect = Effect::Advance {
            rows: batch.rows,
            last: batch.last.expect("a batch holds at least one row"),
            // Only buckets inside the audit window are kept, so neither pending batches nor
            // the cursor grow with a backlog that reaches further back.
            fingerprints: batch
                .fingerprints
                .range(ledger.first_bucket..)
                .map(|(b, f)| (*b, *f))
                .collect(),
        };
        // A lock that can no longer be trusted (an S3 lease not renewed) delivers nothing more.
        ledger.store.healthy().await?;
        // The batch in flight may finish within the grace period after a signal.
        let sent = tokio::select! {
            sent = sink.send(&batch) => sent,
            signal = config.interrupt.grace_over(interrupt::GRACE) => {
                return Err(Error::Interrupted { signal, delivered: delivered_so_far(&ledger) });
            }
        };
        match sent {
            Ok(ack) => ledger.acknowledged(effect, ack).await?,
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
    progress.finish();

    let mut late = LateRows::default();
    if config.audit.enabled() && !output_closed {
        // A signal during the audit ends it: what it re-sent counts only once all of a bucket
        // was acknowledged, so the cursor stays exact.
        let run_rows = ledger.run_rows;
        let audited = unless_interrupted(
            &config.interrupt,
            audit(config, &source, &mut sink, &mut ledger, batching),
            || {
                format!(
                    "the run's {run_rows} rows are in the cursor; the late-row audit was cut short"
                )
            },
        )
        .await;
        match audited {
            Ok(found) => late = found,
            Err(AuditError::Closed) => output_closed = true,
            Err(AuditError::Failed(e)) => return Err(e),
        }
    }
    sink.finish().await.map_err(|e| match e {
        SinkError::Closed => {
            anyhow::anyhow!("the output was closed before the export was complete")
        }
        SinkError::Failed(e) => e,
    })?;
    // Saved even when nothing was new, so `updatedAt` shows the feed is alive.
    ledger.finish().await?;
    Ok(Summary {
        rows: ledger.run_rows,
        cursor: ledger.state.position,
        total_rows: ledger.state.total_rows,
        elapsed: started.elapsed(),
        repairs,
        late,
        output_closed,
        source: description,
    })
}

enum AuditError {
    Closed,
    Failed(Error),
}

impl From<Error> for AuditError {
    fn from(e: Error) -> Self {
        AuditError::Failed(e)
    }
}

impl From<anyhow::Error> for AuditError {
    fn from(e: anyhow::Error) -> Self {
        AuditError::Failed(e.into())
    }
}

/// Compares the delivered fingerprints of the audit window with the source's, and sends every
/// bucket that differs again, whole.
async fn audit(
    config: &ExportConfig,
    source: &Source,
    sink: &mut Sink,
    ledger: &mut Ledger<'_>,
    batching: Batching,
) -> Result<LateRows, AuditError> {
    let Some(cursor) = ledger.state.position else {
        return Ok(LateRows::default());
    };
    let bucket_micros = config.audit.bucket_micros();
    let first_bucket = ledger.first_bucket;
    let audit_state = ledger
        .state
        .audit
        .get_or_insert_with(|| AuditState::starting_after(None, &config.audit));
    audit_state.prune(first_bucket);
    // Rows at or before `since` were delivered before fingerprints were kept.
    let after = match audit_state.since {
        Some(since) if bucket_of(since.created_at, bucket_micros) >= first_bucket => since,
        _ => Position {
            created_at: bucket_start(first_bucket, bucket_micros),
            id: None,
        },
    };
    let window = Query {
        after: Some(after),
        until: Some(cursor),
        provider_id: config.provider_id.clone(),
        ..Query::default()
    };
    let started = Instant::now();
    let found = source
        .fingerprints(&window, config.audit.bucket.as_secs())
        .await
        .map_err(Error::from)?;
    let differences = audit::compare(&audit_state.buckets, &found);
    let mut late = LateRows {
        buckets_checked: found.len() as u64,
        ..LateRows::default()
    };
    for difference in differences {
        late.found += difference.late_rows();
        late.missing += difference.missing_rows();
        if difference.missing_rows() > 0 {
            tracing::warn!(
                "{} follow-ups delivered with created_at in [{}, +{}s) are no longer in the source (deleted?); \
                 they stay in the warehouse",
                difference.missing_rows(),
                bucket_start(difference.bucket, bucket_micros),
                config.audit.bucket.as_secs()
            );
        }
        let start = bucket_start(difference.bucket, bucket_micros);
        let bucket = Query {
            after: Some(if after.created_at > start {
                after
            } else {
                Position {
                    created_at: start,
                    id: None,
                }
            }),
            until: Some(cursor),
            before: Some(bucket_start(difference.bucket + 1, bucket_micros)),
            provider_id: config.provider_id.clone(),
            ..Query::default()
        };
        late.delivered +=
            redeliver(difference.bucket, bucket, source, sink, ledger, batching).await?;
    }
    tracing::debug!(
        buckets = late.buckets_checked,
        found = late.found,
        seconds = started.elapsed().as_secs_f64(),
        "late-row audit done"
    );
    Ok(late)
}

/// Sends one bucket's rows; once all are acknowledged, its fingerprint becomes theirs.
async fn redeliver(
    bucket: i64,
    query: Query,
    source: &Source,
    sink: &mut Sink,
    ledger: &mut Ledger<'_>,
    batching: Batching,
) -> Result<u64, AuditError> {
    let mut batches = source.stream(query, batching);
    let mut sent = Vec::new();
    let mut fingerprint = Fingerprint::default();
    while let Some(batch) = batches.recv().await {
        let batch = batch?;
        fingerprint.merge(batch.fingerprints.values().fold(
            Fingerprint::default(),
            |mut all, f| {
                all.merge(*f);
                all
            },
        ));
        ledger.store.healthy().await?;
        match sink.send(&batch).await {
            Ok(ack) => sent.push((batch.rows, ack)),
            Err(SinkError::Closed) => return Err(AuditError::Closed),
            Err(SinkError::Failed(e)) => return Err(AuditError::Failed(e.into())),
        }
    }
    let rows = sent.iter().map(|(rows, _)| rows).sum();
    let ack = if sent.iter().all(|(_, ack)| *ack == Ack::Durable) {
        Ack::Durable
    } else {
        Ack::UntilFinish
    };
    ledger
        .acknowledged(
            Effect::Reaudit {
                bucket,
                fingerprint,
            },
            ack,
        )
        .await?;
    Ok(rows)
}

/// How an acknowledged batch changes the cursor state.
enum Effect {
    /// Main export: the cursor moves to `last`; the rows join the audit's fingerprints.
    Advance {
        rows: u64,
        last: Position,
        fingerprints: BTreeMap<i64, Fingerprint>,
    },
    /// Audit: a bucket was delivered again; its fingerprint is now `fingerprint`.
    Reaudit {
        bucket: i64,
        fingerprint: Fingerprint,
    },
}

/// The cursor state and its store: a batch's effect is applied and saved once the sink has
/// acknowledged it durably, or kept until the sink finishes.
struct Ledger<'a> {
    store: &'a mut CursorStore,
    state: CursorState,
    /// Rows delivered by this run's main export.
    run_rows: u64,
    pending: Vec<Effect>,
    /// The audit window's first bucket at the start of the run.
    first_bucket: i64,
}

impl Ledger<'_> {
    async fn acknowledged(&mut self, effect: Effect, ack: Ack) -> Result<(), Error> {
        match ack {
            Ack::Durable => {
                self.apply(effect);
                self.store.save(&self.state, self.run_rows).await
            }
            Ack::UntilFinish => {
                self.pending.push(effect);
                Ok(())
            }
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Advance {
                rows,
                last,
                fingerprints,
            } => {
                self.run_rows += rows;
                self.state.total_rows += rows;
                self.state.position = Some(last);
                if let Some(audit) = &mut self.state.audit {
                    audit.record(&fingerprints);
                }
            }
            Effect::Reaudit {
                bucket,
                fingerprint,
            } => {
                if let Some(audit) = &mut self.state.audit {
                    audit.buckets.insert(bucket, fingerprint);
                }
            }
        }
    }

    /// Applies what the sink made durable on finishing, and saves.
    ///
    /// With such a sink the cursor has not moved yet when the audit runs, so a bucket it sent
    /// again holds only rows up to the run's start; the run's own rows in that bucket are added
    /// after it, not replaced by it.
    async fn finish(&mut self) -> Result<(), Error> {
        let (reaudits, advances): (Vec<Effect>, Vec<Effect>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|effect| matches!(effect, Effect::Reaudit { .. }));
        for effect in reaudits.into_iter().chain(advances) {
            self.apply(effect);
        }
        self.store.save(&self.state, self.run_rows).await
    }
}

/// The state the run starts from: the stored cursor checked against this run's filter, or a
/// fresh one on `--reset-cursor`, with `--cursor` overriding the position.
async fn starting_state(
    config: &ExportConfig,
    store: &mut CursorStore,
) -> Result<CursorState, Error> {
    // Loaded even on --reset-cursor: a conditional store must know the version it replaces.
    let stored = match store.load().await {
        Ok(_) if config.reset_cursor => None,
        Err(Error::CorruptCursor { .. }) if config.reset_cursor => None,
        other => other?,
    };
    let mut state = match stored {
        Some(stored) if !stored.legacy && stored.provider_id != config.provider_id => {
            return Err(Error::CursorMismatch {
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
    // The audit starts afresh (from the start position) when there is none yet, when the
    // position was overridden, or when the bucket size changed.
    let keep = config.audit.enabled()
        && config.start.is_none()
        && state
            .audit
            .as_ref()
            .is_some_and(|a| a.bucket_seconds == config.audit.bucket.as_secs());
    if !keep {
        state.audit = config
            .audit
            .enabled()
            .then(|| AuditState::starting_after(state.position, &config.audit));
    }
    Ok(state)
}
