//! Sources: where follow-ups are read from. Each reads one consistent, ordered stream of rows
//! for a [`Query`] and hands it over as [`Batch`]es through a bounded channel, so reading,
//! serialising and delivering overlap while memory stays bounded by a few batches.

mod postgres;
mod sqlite;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cursor::Position;
use crate::error::Error;
use crate::export::audit::Fingerprint;
use crate::export::batch::{Batch, Batching};
use crate::time::Timestamp;

pub use postgres::PostgresSource;
pub use sqlite::SqliteSource;

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

/// Where a source database is.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Postgres(PostgresConfig),
    Sqlite(PathBuf),
}

/// A PostgreSQL connection string and the waits around it.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// A `postgres://` URL or a libpq `key=value` string.
    pub url: String,
    /// A read from the server that makes no progress for this long fails the run.
    pub read_timeout: Duration,
    /// At most this long to connect, whatever the string's `connect_timeout` (for `check`).
    pub connect_cap: Option<Duration>,
}

/// How long a read from PostgreSQL may make no progress before the run fails, by default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);

impl SourceConfig {
    /// Reads a `postgres://` or `postgresql://` URL, a libpq `key=value` string, or a
    /// `sqlite://` URL.
    pub fn from_url(url: &str) -> Result<SourceConfig, Error> {
        if crate::pg::conninfo::ConnInfo::is_postgres(url) {
            Ok(SourceConfig::Postgres(PostgresConfig {
                url: url.to_owned(),
                read_timeout: DEFAULT_READ_TIMEOUT,
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
            Ok(SourceConfig::Sqlite(PathBuf::from(path)))
        } else {
            Err(Error::config(format!(
                "the database URL `{}` is neither postgres://…, a key=value connection string, nor sqlite://…",
                crate::redact::url(url)
            )))
        }
    }
}

pub enum Source {
    Postgres(PostgresSource),
    Sqlite(SqliteSource),
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

    /// The next batch, an error, or `None` once the reader has finished cleanly.
    pub async fn recv(&mut self) -> Option<Result<Batch, anyhow::Error>> {
        if let Some(next) = self.rx.recv().await {
            return Some(next);
        }
        let reader = self.reader.take()?;
        match reader.await {
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
                Some(Err(anyhow::anyhow!(
                    "reading {TABLE} from {} stopped unexpectedly ({why}); the rows delivered \
                     before are in the cursor. Fix: rerun; if it happens again, report it with \
                     the run's log",
                    self.source
                )))
            }
        }
    }
}

impl Source {
    pub async fn connect(config: &SourceConfig) -> Result<Source, Error> {
        Ok(match config {
            SourceConfig::Postgres(config) => {
                Source::Postgres(PostgresSource::connect(config).await?)
            }
            SourceConfig::Sqlite(path) => Source::Sqlite(SqliteSource::open(path)?),
        })
    }

    /// How many rows the query would return (for the progress bar's ETA).
    pub async fn count(&self, query: &Query) -> anyhow::Result<u64> {
        let pending = match self {
            Source::Postgres(source) => source.count(query).await?,
            Source::Sqlite(source) => source.count(query).await?,
        };
        Ok(query.limit.map_or(pending, |limit| pending.min(limit)))
    }

    /// Starts reading; batches arrive on the returned channel.
    pub fn stream(&self, query: Query, batching: Batching) -> BatchReceiver {
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let reader = match self {
            Source::Postgres(source) => source.stream(query, batching, tx),
            Source::Sqlite(source) => source.stream(query, batching, tx),
        };
        BatchReceiver::new(rx, reader, self.describe())
    }

    /// Fingerprints of the rows the query selects, per bucket of `bucket_seconds`.
    pub async fn fingerprints(
        &self,
        query: &Query,
        bucket_seconds: u64,
    ) -> anyhow::Result<BTreeMap<i64, Fingerprint>> {
        match self {
            Source::Postgres(source) => source.fingerprints(query, bucket_seconds).await,
            Source::Sqlite(source) => source.fingerprints(query, bucket_seconds).await,
        }
    }

    /// The source for messages, without credentials.
    pub fn describe(&self) -> String {
        match self {
            Source::Postgres(source) => source.describe(),
            Source::Sqlite(source) => source.describe(),
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
    async fn a_reader_that_finishes_ends_the_stream() {
        let (tx, rx) = mpsc::channel(1);
        let reader = tokio::spawn(async move { drop(tx) });
        let mut batches = BatchReceiver::new(rx, reader, "db".into());
        assert!(batches.recv().await.is_none());
    }
}
