//! The export: read pending follow-ups from the source, deliver them to the sink batch by batch
//! (several at once when the sink allows it), and move the cursor over the batches the sink
//! acknowledged, in order.

mod audit;
pub mod batch;
mod interrupt;
mod ledger;
mod progress;
pub mod retry;
pub mod sink;
pub mod source;
mod summary;
#[cfg(test)]
mod tests;
mod window;

use std::time::{Duration, Instant};

use crate::archive::{ArchiveConfig, Archiving, Mark, Spool};
use crate::cursor::{AuditConfig, Position};
use crate::error::Error;
use crate::store::{CursorStore, CursorStoreConfig};
use crate::time::Timestamp;
use audit::AuditError;
use batch::{Batching, RepairCounts};
pub use interrupt::{GRACE, Interrupt, Signal};
use ledger::{Effect, Ledger};
use progress::Progress;
use sink::{SinkConfig, SinkError};
use source::{Query, SourceConfig};
pub use summary::{LateRows, Summary};
use window::Window;

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
    /// Show the progress display (stderr is a terminal, not `--quiet`, text logs).
    pub progress: bool,
    /// SIGTERM/SIGINT: stop after the batches in flight.
    pub interrupt: Interrupt,
    /// `--archive-uri`: where a copy of each run's delivered rows is kept.
    pub archive: Option<ArchiveConfig>,
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

/// Records in the archive's spool that the batch ending at `mark` was acknowledged.
fn spooled(spool: &mut Spool, mark: Mark, ack: sink::Ack) {
    match ack {
        sink::Ack::Durable => spool.delivered(mark),
        sink::Ack::UntilFinish => spool.accepted(mark),
    }
}

/// What a batch's acknowledgement does, kept while it is in flight.
struct Sent {
    effect: Effect,
    rows: u64,
    repairs: RepairCounts,
    /// Where the batch ends in the archive's spool.
    spooled: Mark,
}

impl Sent {
    fn of(batch: &batch::Batch, first_bucket: i64, spooled: Mark) -> Sent {
        Sent {
            spooled,
            effect: Effect::Advance {
                rows: batch.rows,
                last: batch.last.expect("a batch holds at least one row"),
                // Only buckets inside the audit window are kept, so neither pending batches
                // nor the cursor grow with a backlog that reaches further back.
                fingerprints: batch
                    .fingerprints
                    .range(first_bucket..)
                    .map(|(b, f)| (*b, *f))
                    .collect(),
            },
            rows: batch.rows,
            repairs: batch.repairs,
        }
    }
}

/// Runs one export: everything pending (up to the limit), then the late-row audit.
pub async fn run_once(config: &ExportConfig) -> Result<Summary, Error> {
    run_once_at(config, Timestamp::now()).await
}

/// [`run_once`] for a run that started at `started_at`, the time that names its archived copy.
///
/// With an archive, the rows the run delivered are archived after it, still under the
/// cursor's lock — also after a failed or interrupted run, whose acknowledged rows are in the
/// cursor. A successful run whose rows could not be archived says so in
/// [`Summary::archive`]; the cursor stays where the delivery put it.
pub async fn run_once_at(config: &ExportConfig, started_at: Timestamp) -> Result<Summary, Error> {
    let started = Instant::now();
    if let Some(archive) = &config.archive {
        archive.check_folder()?;
    }
    crate::store::with_lock(&*config.cursor_store, async |store| {
        let mut spool = match &config.archive {
            Some(archive) => {
                // What runs stopped before publishing delivered comes first, as their own
                // copies.
                if let Err(e) = archive.publish_left().await {
                    tracing::warn!(
                        "cannot archive what a stopped run delivered: {e:#}; the next run tries \
                         again"
                    );
                }
                archive.spool(started_at)?
            }
            None => Spool::off(),
        };
        let result = run_locked(config, store, started, &mut spool).await;
        let Some(archive) = &config.archive else {
            return result;
        };
        let archived = archive.publish(&spool, started_at).await;
        match (result, archived) {
            (Ok(summary), Ok(archiving)) => Ok(Summary {
                archive: archiving,
                ..summary
            }),
            (Ok(summary), Err(e)) => Ok(Summary {
                archive: Archiving::Failed(format!("{e:#}")),
                ..summary
            }),
            (Err(error), archived) => {
                match archived {
                    Ok(Archiving::Written(written)) => tracing::info!(
                        "archived the {} rows this run delivered before it stopped at {}",
                        written.rows,
                        written.copy
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(
                        "the {} rows this run delivered before it stopped were not archived: {e:#}",
                        spool.delivered_rows()
                    ),
                }
                Err(error)
            }
        }
    })
    .await
}

/// The run, once the cursor store's lock is held.
async fn run_locked(
    config: &ExportConfig,
    store: &mut dyn CursorStore,
    started: Instant,
    spool: &mut Spool,
) -> Result<Summary, Error> {
    let state = ledger::starting_state(config, store).await?;
    let nothing_yet = || "nothing was delivered yet".to_owned();
    let mut progress = if config.progress {
        Progress::start("connecting to the database")
    } else {
        Progress::hidden()
    };
    let source =
        unless_interrupted(&config.interrupt, config.source.connect(), nothing_yet).await?;
    let description = source.describe();
    let query = Query {
        after: state.position,
        provider_id: config.provider_id.clone(),
        settle: config.settle,
        hold_back: config.hold_back,
        limit: config.limit,
        ..Query::default()
    };
    if config.progress {
        progress.phase(format!("counting the rows to export in {description}"));
        let count = async { Ok::<_, Error>(source::pending(&*source, &query).await.ok()) };
        progress.set_total(unless_interrupted(&config.interrupt, count, nothing_yet).await?);
        // PostgreSQL sorts the rows after the cursor before it sends the first one.
        progress.phase(format!("waiting for the first rows from {description}"));
    }
    let mut sink = config.sink.open()?;
    let mut ledger = Ledger::new(store, state, config.audit.first_bucket(Timestamp::now()));
    let batching = Batching {
        size: config.batch_size,
        bucket_micros: config.audit.bucket_micros(),
    };
    tracing::debug!(source = %description, after = ?query.after, "export started");
    let start = query.after;

    // With the audit on and a cursor, one scan first: the audit's fingerprints and what waits
    // after the cursor. When nothing waits that this run may take, the main query is not run
    // at all, and that scan is the run's only one (without the (created_at, id) index each of
    // them reads the whole table).
    let mut before = None;
    if config.audit.enabled()
        && let Some(window) = audit::window(config, &mut ledger)
    {
        let counted = async {
            let counted = source
                .audit_and_backlog(
                    &window,
                    config.audit.bucket.as_secs(),
                    &backlog_query(config, start),
                )
                .await;
            Ok::<_, Error>(counted.map_err(|e| {
                tracing::debug!("the rows after the cursor were not counted first: {e:#}");
            }))
        };
        before = unless_interrupted(&config.interrupt, counted, nothing_yet)
            .await?
            .ok();
    }
    let nothing_new = before.as_ref().is_some_and(|(_, backlog)| {
        backlog.pending == backlog.held_back.map_or(0, |held| held.rows)
    });

    let mut repairs = RepairCounts::default();
    let mut output_closed = false;
    let mut batches = if nothing_new {
        source::BatchReceiver::finished(description.clone())
    } else {
        source.stream(query, batching)
    };
    // The last row sent: where the cursor will be once the run ends well.
    let mut last_sent = start;
    // Deliveries in flight, each with what its acknowledgement does; results come back in batch
    // order, so the cursor only ever moves over a contiguous prefix of acknowledged batches.
    let mut window: Window<Sent> = Window::new(sink.in_flight());
    let mut source_done = false;
    // The first delivery (in batch order) that failed: no new batch is taken, the ones in
    // flight are awaited, and none after it counts.
    let mut failure: Option<Error> = None;
    // The source's error comes after every batch in flight: those still count.
    let mut source_failure: Option<Error> = None;
    // After a signal, the batches in flight may finish within the grace period.
    let grace = config.interrupt.grace_over(interrupt::GRACE);
    tokio::pin!(grace);
    loop {
        let signal = config.interrupt.received();
        let stopping = source_done
            || failure.is_some()
            || source_failure.is_some()
            || output_closed
            || signal.is_some();
        if stopping && window.is_empty() {
            if let Some(failure) = failure.or(source_failure) {
                return Err(failure);
            }
            if let Some(signal) = signal {
                return Err(Error::Interrupted {
                    signal,
                    delivered: delivered_so_far(&ledger),
                });
            }
            break;
        }
        tokio::select! {
            biased;
            signal = &mut grace => {
                // A delivery that failed before the grace ran out is what stopped the run.
                return Err(failure.unwrap_or_else(|| Error::Interrupted {
                    signal,
                    delivered: delivered_so_far(&ledger),
                }));
            }
            // Wakes the loop so it stops taking batches.
            _ = config.interrupt.wait(), if signal.is_none() => {}
            Some((sent, then)) = window.next() => match sent {
                // After a failure or a closed output, later batches do not count.
                _ if failure.is_some() || output_closed => {}
                Ok(ack) => {
                    spooled(spool, then.spooled, ack);
                    ledger.acknowledged(then.effect, ack).await?;
                    repairs += then.repairs;
                    progress.advance(then.rows);
                }
                Err(SinkError::Closed) => output_closed = true,
                Err(SinkError::Failed(e)) => failure = Some(e.into()),
            },
            next = batches.recv(), if !stopping && window.has_room() => match next {
                None => source_done = true,
                Some(Err(e)) => source_failure = Some(e.into()),
                Some(Ok(batch)) => {
                    last_sent = batch.last.or(last_sent);
                    // A lock that can no longer be trusted (an S3 lease not renewed) delivers
                    // nothing more.
                    ledger.store.healthy().await?;
                    let spooled = spool.append(&batch.ndjson, batch.rows)?;
                    let then = Sent::of(&batch, ledger.first_bucket, spooled);
                    window.start(sink.send(batch), then);
                }
            },
        }
    }
    drop(batches);

    let mut late = LateRows::default();
    // What waits after the cursor, when the audit's scan counted it.
    let (found, mut counted) = match before {
        Some((found, backlog)) if nothing_new => (audit::Found::Read(found), Some(backlog)),
        _ => (
            audit::Found::WithBacklog(backlog_query(config, last_sent)),
            None,
        ),
    };
    if config.audit.enabled() && !output_closed {
        // A signal during the audit ends it: what it re-sent counts only once all of a bucket
        // was acknowledged, so the cursor stays exact.
        let run_rows = ledger.run_rows;
        progress.phase(format!(
            "late-row audit: comparing what was delivered over the last {} with {description}",
            indicatif::HumanDuration(config.audit.window)
        ));
        let audited = unless_interrupted(
            &config.interrupt,
            audit::audit(
                config,
                &*source,
                &mut *sink,
                &mut ledger,
                spool,
                batching,
                found,
            ),
            || {
                format!(
                    "the run's {run_rows} rows are in the cursor; the late-row audit was cut short"
                )
            },
        )
        .await;
        match audited {
            Ok((found, backlog)) => {
                late = found;
                counted = counted.or(backlog);
            }
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
    spool.finished();
    // Saved even when nothing was new, so `updatedAt` shows the feed is alive.
    ledger.finish().await?;
    let backlog = match counted {
        Some(backlog) => Some(backlog),
        None => {
            progress.phase("counting the rows left after the cursor".into());
            backlog_after(config, &*source, ledger.state.position).await
        }
    };
    progress.finish();
    Ok(Summary {
        rows: ledger.run_rows,
        cursor: ledger.state.position,
        total_rows: ledger.state.total_rows,
        elapsed: started.elapsed(),
        repairs,
        late,
        output_closed,
        source: description,
        backlog,
        archive: Archiving::Off,
    })
}

/// The rows after `after` of the run's provider, with its settle window and hold-back: what
/// the backlog counts.
fn backlog_query(config: &ExportConfig, after: Option<Position>) -> Query {
    Query {
        after,
        provider_id: config.provider_id.clone(),
        settle: config.settle,
        hold_back: config.hold_back,
        ..Query::default()
    }
}

/// How long counting what is left after the cursor may take at the end of a run.
const BACKLOG_TIMEOUT: Duration = Duration::from_secs(10);

/// What is left after the run's cursor, for the summary line, the status and the metrics: one
/// count, given [`BACKLOG_TIMEOUT`]; `None` (with a warning) when it fails or times out, and
/// when a signal arrives, so that a slow database never holds up the end of a run.
async fn backlog_after(
    config: &ExportConfig,
    source: &dyn source::Source,
    after: Option<Position>,
) -> Option<source::Backlog> {
    let query = backlog_query(config, after);
    tokio::select! {
        counted = tokio::time::timeout(BACKLOG_TIMEOUT, source.backlog(&query)) => match counted {
            Ok(Ok(backlog)) => Some(backlog),
            Ok(Err(e)) => {
                tracing::warn!("the rows left after the cursor were not counted: {e:#}");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "the rows left after the cursor were not counted: no answer in {} s \
                     (without the (created_at, id) index the count scans the table; `check` \
                     prints the CREATE INDEX)",
                    BACKLOG_TIMEOUT.as_secs()
                );
                None
            }
        },
        _ = config.interrupt.wait() => None,
    }
}
