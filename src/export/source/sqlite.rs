//! SQLite source, for local work and the demo. The table has the same name and columns as in
//! PostgreSQL, with `id` and `created_at` stored as text (`created_at` in the exported form,
//! `2026-01-22T04:00:00.000000Z`, so that text order is time order).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, ToSql};

use super::filter::{self, Param};
use super::{
    Backlog, BatchReceiver, BatchSender, HeldBack, Query, Source, SourceConfig, SourceTarget, TABLE,
};
use crate::cursor::Fingerprint;
use crate::error::Error;
use crate::export::batch::{BatchBuilder, Batching, fingerprint_unmarked};
use crate::row::SourceRow;
use crate::row::schema::{self, col};
use crate::time::Timestamp;
use crate::verdict::{Check, Verdict};

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    pub path: PathBuf,
}

#[async_trait]
impl SourceTarget for SqliteConfig {
    async fn connect(&self) -> Result<Arc<dyn Source>, Error> {
        Ok(Arc::new(SqliteSource::open(&self.path)?))
    }

    fn with_wait_cap(&self, _cap: Duration) -> SourceConfig {
        Arc::new(self.clone())
    }
}

#[derive(Clone)]
struct SqliteSource {
    path: PathBuf,
}

impl SqliteSource {
    fn open(path: &Path) -> Result<SqliteSource, Error> {
        if !path.is_file() {
            return Err(Error::config(format!(
                "no SQLite database at {}: check the sqlite:// URL, or use --demo for the sample database",
                path.display()
            )));
        }
        Ok(SqliteSource {
            path: path.to_owned(),
        })
    }

    fn connect(&self) -> anyhow::Result<Connection> {
        Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening SQLite database {}", self.path.display()))
    }

    fn query_error(&self, e: rusqlite::Error) -> anyhow::Error {
        if e.to_string().contains("no such table") {
            return anyhow::anyhow!("table {TABLE} does not exist in {}", self.describe());
        }
        anyhow::anyhow!("reading {TABLE} from {} failed: {e}", self.describe())
    }
}

#[async_trait]
impl Source for SqliteSource {
    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    async fn count(&self, query: &Query) -> anyhow::Result<u64> {
        let conn = self.connect()?;
        let (filter, params) = where_clause(query);
        let sql = format!("SELECT count(*) FROM {TABLE} WHERE {filter}");
        let count: i64 = conn
            .query_row(&sql, rusqlite::params_from_iter(params.iter()), |row| {
                row.get(0)
            })
            .map_err(|e| self.query_error(e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn backlog(&self, query: &Query) -> anyhow::Result<Backlog> {
        let conn = self.connect()?;
        let settled = settled(query);
        let mut params: Vec<Box<dyn ToSql + Send>> = vec![Box::new(settled.to_string())];
        let all = Query {
            after: query.after,
            provider_id: query.provider_id.clone(),
            ..Query::default()
        };
        let conditions = filter::conditions(&all, |param| {
            params.push(bind(param));
            "?".into()
        });
        let sql = format!(
            "SELECT count(*), min(created_at), coalesce(sum(created_at > ?1), 0) FROM {TABLE} \
             WHERE true{conditions}"
        );
        let (pending, oldest, held): (i64, Option<String>, i64) = conn
            .query_row(&sql, rusqlite::params_from_iter(params.iter()), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(|e| self.query_error(e))?;
        let oldest = match oldest {
            Some(text) => Some(Timestamp::parse(&text).map_err(|reason| {
                anyhow::anyhow!(
                    "malformed row: a follow-up has created_at {reason}; fix it in the source"
                )
            })?),
            None => None,
        };
        Ok(Backlog {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest,
            held_back: HeldBack::of(u64::try_from(held).unwrap_or(0), settled, None),
        })
    }

    fn stream(&self, query: Query, batching: Batching) -> BatchReceiver {
        let source = self.clone();
        super::spawn_blocking_reader(self.describe(), move |tx| {
            source.read_into(&query, batching, tx)
        })
    }

    /// Fingerprints per bucket, computed here from the ids (SQLite has no hash to aggregate).
    async fn fingerprints(
        &self,
        query: &Query,
        bucket_seconds: u64,
    ) -> anyhow::Result<BTreeMap<i64, Fingerprint>> {
        self.fingerprints_by_bucket(query, bucket_seconds)
    }

    async fn existing(&self, ids: &[uuid::Uuid]) -> anyhow::Result<HashSet<uuid::Uuid>> {
        let conn = self.connect()?;
        let wanted = serde_json::to_string(ids)?;
        let sql = format!(
            "SELECT id, created_at FROM {TABLE} WHERE lower(id) IN (SELECT value FROM json_each(?1))"
        );
        let mut statement = conn.prepare(&sql).map_err(|e| self.query_error(e))?;
        let mut rows = statement.query([wanted]).map_err(|e| self.query_error(e))?;
        let mut found = HashSet::new();
        while let Some(row) = rows.next().map_err(|e| self.query_error(e))? {
            found.insert(decode_key(row)?.0);
        }
        Ok(found)
    }

    async fn check(&self) -> Vec<Check> {
        let database = match self.count(&Query::default()).await {
            Ok(rows) => Verdict::Ok(format!(
                "{}: {TABLE} readable ({rows} rows)",
                self.describe()
            )),
            Err(e) => Verdict::problem(format!("{e:#}"), "check the sqlite:// path"),
        };
        vec![
            ("database", database),
            ("index", Verdict::Ok("not checked for SQLite".into())),
        ]
    }
}

impl SqliteSource {
    fn read_into(&self, query: &Query, batching: Batching, tx: &BatchSender) -> anyhow::Result<()> {
        let conn = self.connect()?;
        let (filter, mut params) = where_clause(query);
        let mut sql = format!(
            "SELECT {} FROM {TABLE} WHERE {filter} ORDER BY created_at, id",
            schema::select_list(|c| c.sql.into())
        );
        if let Some(limit) = query.limit {
            params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
            sql.push_str(" LIMIT ?");
        }
        let mut statement = conn.prepare(&sql).map_err(|e| self.query_error(e))?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| self.query_error(e))?;
        let mut builder = BatchBuilder::new(batching);
        while let Some(row) = rows.next().map_err(|e| self.query_error(e))? {
            let row = decode(row)?;
            if let Some(batch) = builder.push(row)
                && tx.blocking_send(Ok(batch)).is_err()
            {
                return Ok(()); // the run stopped listening (output closed or failed)
            }
        }
        if let Some(batch) = builder.finish() {
            let _ = tx.blocking_send(Ok(batch));
        }
        Ok(())
    }

    fn fingerprints_by_bucket(
        &self,
        query: &Query,
        bucket_seconds: u64,
    ) -> anyhow::Result<BTreeMap<i64, Fingerprint>> {
        // SQLite has no change marker: each row's is the hash of its exported line, so the
        // rows are read whole.
        let conn = self.connect()?;
        let (filter, params) = where_clause(query);
        let sql = format!(
            "SELECT {} FROM {TABLE} WHERE {filter}",
            schema::select_list(|c| c.sql.into())
        );
        let mut statement = conn.prepare(&sql).map_err(|e| self.query_error(e))?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| self.query_error(e))?;
        let bucket_micros = i64::try_from(bucket_seconds.max(1) * 1_000_000).unwrap_or(i64::MAX);
        let mut fingerprints: BTreeMap<i64, Fingerprint> = BTreeMap::new();
        let mut line = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.query_error(e))? {
            fingerprint_unmarked(&mut fingerprints, bucket_micros, decode(row)?, &mut line);
        }
        Ok(fingerprints)
    }
}

/// The id and created_at of a `SELECT id, created_at` row.
fn decode_key(row: &rusqlite::Row<'_>) -> anyhow::Result<(uuid::Uuid, Timestamp)> {
    parse_key(row.get(0)?, row.get(1)?)
}

fn parse_key(raw_id: String, raw_created: String) -> anyhow::Result<(uuid::Uuid, Timestamp)> {
    let id = uuid::Uuid::parse_str(&raw_id).map_err(|_| {
        anyhow::anyhow!("malformed row: id `{raw_id}` (created_at {raw_created}) is not a uuid; fix or remove it in the source")
    })?;
    let created_at = Timestamp::parse(&raw_created).map_err(|reason| {
        anyhow::anyhow!(
            "malformed row: follow-up {id} has created_at {reason}; fix it in the source"
        )
    })?;
    Ok((id, created_at))
}

/// The settle window's bound: rows created after it wait.
fn settled(query: &Query) -> Timestamp {
    Timestamp::from_micros(
        Timestamp::now().micros() - i64::try_from(query.settle.as_micros()).unwrap_or(i64::MAX),
    )
}

fn bind(param: Param) -> Box<dyn ToSql + Send> {
    match param {
        Param::Time(at) => Box::new(at.to_string()),
        Param::Id(id) => Box::new(id.to_string()),
        Param::Text(text) => Box::new(text),
    }
}

fn where_clause(query: &Query) -> (String, Vec<Box<dyn ToSql + Send>>) {
    let mut params: Vec<Box<dyn ToSql + Send>> = vec![Box::new(settled(query).to_string())];
    let mut filter = String::from("created_at <= ?");
    filter.push_str(&filter::conditions(query, |param| {
        params.push(bind(param));
        "?".into()
    }));
    (filter, params)
}

/// Decodes one row; a malformed id or timestamp stops the run at this row, naming it.
fn decode(row: &rusqlite::Row<'_>) -> anyhow::Result<SourceRow> {
    let (id, created_at) = parse_key(row.get(col::ID)?, row.get(col::CREATED_AT)?)?;
    Ok(SourceRow {
        id,
        provider_id: row.get(col::PROVIDER_ID)?,
        provider_name: row.get(col::PROVIDER_NAME)?,
        action: row.get(col::ACTION)?,
        notes: row.get(col::NOTES)?,
        platform_context: row.get(col::PLATFORM_CONTEXT)?,
        conversion_cursor: row.get(col::CONVERSION_CURSOR)?,
        conversion_href: row.get(col::CONVERSION_HREF)?,
        created_at,
    })
}
