//! Sources: where follow-ups are read from. Each reads one consistent, ordered stream of rows
//! for a [`Query`] and hands it over as [`Batch`]es through a bounded channel, so reading,
//! serialising and delivering overlap while memory stays bounded by a few batches.
//!
//! To add a source: implement [`SourceTarget`] and [`Source`] in a module here, and recognise
//! its URL in [`from_url`].

mod backlog;
mod filter;
#[cfg(test)]
pub mod memory;
mod postgres;
mod sqlite;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cursor::{Fingerprint, Position};
use crate::error::Error;
use crate::export::batch::{Batch, Batching};
use crate::time::Timestamp;
use crate::verdict::Check;
use uuid::Uuid;

pub use backlog::{Backlog, HeldBack, HoldReason};
pub use postgres::PostgresConfig;
pub use sqlite::SqliteConfig;

pub use crate::row::schema::TABLE;

/// Batches in flight between the reader and the sink.
const CHANNEL_BATCHES: usize = 2;

/// Which rows to read, in `(created_at, id)` order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Start after this position (inclusive of its timestamp when it has no id).
    pub after: Option<Position>,
    /// Stop at this position, inclusive.
    pub until: Option<Position>,
    /// Only rows with `created_at` before this instant.
    pub before: Option<Timestamp>,
    pub provider_id: Option<String>,
    /// Only rows with `created_at <= now() - settle` on the database clock.
    pub settle: Duration,
    /// PostgreSQL: also stop before the start of the oldest transaction still open in the
    /// database (when the role can see it in `pg_stat_activity`), ignoring transactions open
    /// longer than this.
    pub hold_back: Option<Duration>,
    /// At most this many rows (`None`: all).
    pub limit: Option<u64>,
}

/// A source database as configured, before connecting.
pub type SourceConfig = Arc<dyn SourceTarget>;

/// A source as configured.
#[async_trait]
pub trait SourceTarget: Debug + Send + Sync {
    /// Connects (or opens the file); the error names the database and the fix.
    async fn connect(&self) -> Result<Arc<dyn Source>, Error>;

    /// The same source, waiting at most `cap` to connect and for each read (for `check`).
    fn with_wait_cap(&self, cap: Duration) -> SourceConfig;
}

/// A connected source.
///
/// The contract: [`Source::stream`] yields every row the query selects exactly once, in
/// `(created_at, id)` order, as one consistent read; an error ends the stream (after the rows
/// before it). [`Source::fingerprints`] aggregates the same selection per bucket of whole
/// seconds since the Unix epoch (UTC) in one query, and its buckets are those of
/// [`crate::cursor::fingerprint::bucket_of`]: a bucket of 86,400 s is a UTC day, which is what
/// [`fingerprints_by_day`] asks for.
#[async_trait]
pub trait Source: Send + Sync {
    /// How many rows the query would return, `limit` aside (for the progress bar's ETA).
    async fn count(&self, query: &Query) -> anyhow::Result<u64>;

    /// What is left after `query.after` for `query.provider_id` (its limit, `until` and
    /// `before` aside), counted in one query: see [`Backlog`].
    async fn backlog(&self, query: &Query) -> anyhow::Result<Backlog>;

    /// Starts reading; batches arrive on the returned receiver.
    fn stream(&self, query: Query, batching: Batching) -> BatchReceiver;

    /// Fingerprints of the rows the query selects, per bucket of `bucket_seconds`.
    async fn fingerprints(
        &self,
        query: &Query,
        bucket_seconds: u64,
    ) -> anyhow::Result<BTreeMap<i64, Fingerprint>>;

    /// The audit's fingerprints of `audit` (per bucket of `bucket_seconds`) and the backlog
    /// after `backlog.after`, together: PostgreSQL reads the table once for both, so that a run
    /// that finds nothing new reads it once in all. Others ask for each in turn.
    async fn audit_and_backlog(
        &self,
        audit: &Query,
        bucket_seconds: u64,
        backlog: &Query,
    ) -> anyhow::Result<(BTreeMap<i64, Fingerprint>, Backlog)> {
        let fingerprints = self.fingerprints(audit, bucket_seconds).await?;
        Ok((fingerprints, self.backlog(backlog).await?))
    }

    /// Which of `ids` the table holds, whatever their `created_at` (for `reconcile --repair`,
    /// before it sends a tombstone). At most a few thousand ids at a time.
    async fn existing(&self, ids: &[Uuid]) -> anyhow::Result<HashSet<Uuid>>;

    /// The source for messages, without credentials.
    fn describe(&self) -> String;

    /// `check`'s lines about this source: the table readable, its index, what the role sees.
    async fn check(&self) -> Vec<Check>;
}

/// How many rows the query returns, its limit applied.
pub async fn pending(source: &dyn Source, query: &Query) -> anyhow::Result<u64> {
    let pending = source.count(query).await?;
    Ok(query.limit.map_or(pending, |limit| pending.min(limit)))
}

/// Seconds in a UTC day: the bucket of [`fingerprints_by_day`].
pub const DAY_SECONDS: u64 = 86_400;

/// The count and id hash of the rows the query selects, per UTC day of `created_at` (the day's
/// number since 1970-01-01), in one aggregate query. Ids are the table's primary key, so each
/// row is counted once.
pub async fn fingerprints_by_day(
    source: &dyn Source,
    query: &Query,
) -> anyhow::Result<BTreeMap<i64, Fingerprint>> {
    source.fingerprints(query, DAY_SECONDS).await
}

/// Reads a `postgres://` or `postgresql://` URL or a libpq `key=value` string (reads making no
/// progress for `read_timeout` fail), or a `sqlite://` URL: the one place source kinds are
/// told apart.
pub fn from_url(url: &str, read_timeout: Duration) -> Result<SourceConfig, Error> {
    if crate::pg::conninfo::ConnInfo::is_postgres(url) {
        Ok(Arc::new(PostgresConfig {
            url: url.to_owned(),
            read_timeout,
            connect_cap: None,
        }))
    } else if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(Error::config(
                "the SQLite URL has no path: use sqlite://path/to/file.sqlite",
            ));
        }
        Ok(sqlite(Path::new(path)))
    } else {
        Err(Error::config(format!(
            "the database URL `{}` is neither postgres://…, a key=value connection string, nor sqlite://…",
            crate::redact::url(url)
        )))
    }
}

/// The SQLite database at `path` (the demo's, or a `sqlite://` URL's).
pub fn sqlite(path: &Path) -> SourceConfig {
    Arc::new(SqliteConfig {
        path: path.to_owned(),
    })
}

/// Where batches go from a reader task.
pub type BatchSender = mpsc::Sender<anyhow::Result<Batch>>;

/// Runs `read` on the runtime, its batches streamed to the returned receiver; the error it
/// ends with, if any, is the stream's last item.
pub fn spawn_reader<F, R>(description: String, read: R) -> BatchReceiver
where
    R: FnOnce(BatchSender) -> F,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    let errors = tx.clone();
    let work = read(tx);
    let reader = tokio::spawn(async move {
        if let Err(e) = work.await {
            let _ = errors.send(Err(e)).await;
        }
    });
    BatchReceiver::new(rx, reader, description)
}

/// [`spawn_reader`] for a reader that blocks (a synchronous database driver).
pub fn spawn_blocking_reader<R>(description: String, read: R) -> BatchReceiver
where
    R: FnOnce(&BatchSender) -> anyhow::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    let reader = tokio::task::spawn_blocking(move || {
        if let Err(e) = read(&tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    BatchReceiver::new(rx, reader, description)
}

/// What a source streams: batches, then possibly one error that ended the stream. The reader
/// task is joined when the channel closes, so a reader that panicked or died ends the run with
/// an error instead of looking like the end of the rows.
pub struct BatchReceiver {
    rx: mpsc::Receiver<Result<Batch, anyhow::Error>>,
    reader: Option<JoinHandle<()>>,
    source: String,
}

impl BatchReceiver {
    pub fn new(
        rx: mpsc::Receiver<Result<Batch, anyhow::Error>>,
        reader: JoinHandle<()>,
        source: String,
    ) -> BatchReceiver {
        BatchReceiver {
            rx,
            reader: Some(reader),
            source,
        }
    }

    /// A stream that has nothing to give: the run found nothing to read.
    pub fn finished(source: String) -> BatchReceiver {
        let (_, rx) = mpsc::channel(1);
        BatchReceiver {
            rx,
            reader: None,
            source,
        }
    }

    /// The next batch, an error, or `None` once the reader has finished cleanly.
    ///
    /// Cancel-safe (the run selects it against deliveries completing): nothing is lost when the
    /// future is dropped before it resolves.
    pub async fn recv(&mut self) -> Option<Result<Batch, anyhow::Error>> {
        if let Some(next) = self.rx.recv().await {
            return Some(next);
        }
        // Joined through a borrow and only then forgotten, so a cancelled join is retried.
        let joined = self.reader.as_mut()?.await;
        self.reader = None;
        match joined {
            Ok(()) => None,
            Err(e) => {
                let why = match e.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into()),
                    Err(e) => e.to_string(),
                };
                Some(Err(anyhow::Error::new(crate::error::Hint::new(
                    format!(
                        "reading {TABLE} from {} stopped unexpectedly ({why}); the rows \
                         delivered before are in the cursor",
                        self.source
                    ),
                    "rerun; if it happens again, report it with the run's log",
                ))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reader_that_panics_ends_the_stream_with_an_error() {
        let (tx, rx) = mpsc::channel(1);
        let reader = tokio::spawn(async move {
            let _keep = tx;
            panic!("decoding exploded");
        });
        let mut batches = BatchReceiver::new(rx, reader, "db:5432/app".into());
        let end = batches
            .recv()
            .await
            .expect("an error, not the end of the rows");
        let message = end.unwrap_err().to_string();
        assert!(message.contains("decoding exploded"), "{message}");
        assert!(message.contains("db:5432/app"), "{message}");
        assert!(batches.recv().await.is_none());
    }

    #[tokio::test]
    async fn fingerprints_by_day_group_rows_by_their_utc_day() {
        use crate::row::SourceRow;
        let source = memory::MemorySource::default();
        let row = |id: u128, at: &str| {
            SourceRow::new(
                uuid::Uuid::from_u128(id),
                "provider-1",
                "pause",
                Timestamp::parse(at).unwrap(),
            )
        };
        source.insert([
            row(1 << 64, "2026-01-02T00:00:00Z"),
            row(2 << 64, "2026-01-02T23:59:59.999999Z"),
            row(3 << 64, "2026-01-03T00:00:00Z"),
        ]);
        let days = fingerprints_by_day(&source, &Query::default())
            .await
            .unwrap();
        let day = |at: &str| Timestamp::parse(at).unwrap().micros() / 86_400_000_000;
        assert_eq!(
            days.keys().copied().collect::<Vec<_>>(),
            [day("2026-01-02T00:00:00Z"), day("2026-01-03T00:00:00Z")]
        );
        let ids = |day: &Fingerprint| (day.count, day.sum);
        assert_eq!(ids(&days[&day("2026-01-02T00:00:00Z")]), (2, 3));
        assert_eq!(ids(&days[&day("2026-01-03T00:00:00Z")]), (1, 3));
    }

    #[tokio::test]
    async fn a_reader_that_finishes_ends_the_stream() {
        let (tx, rx) = mpsc::channel(1);
        let reader = tokio::spawn(async move { drop(tx) });
        let mut batches = BatchReceiver::new(rx, reader, "db".into());
        assert!(batches.recv().await.is_none());
    }
}
