//! PostgreSQL source: one ordered query per run, streamed row by row.
//!
//! The table has no index on `created_at` in the application's migrations, so paging with
//! repeated `LIMIT` queries would scan and sort the table once per page. One streamed query
//! scans and sorts once; tokio-postgres applies backpressure, so memory stays bounded.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};
use uuid::Uuid;

mod backlog;
mod check;

use super::filter::{self, Param};
use super::{
    Backlog, BatchReceiver, BatchSender, Query, Source, SourceConfig, SourceTarget, TABLE,
};
use crate::cursor::Fingerprint;
use crate::error::{Error, Hint};
use crate::export::batch::{BatchBuilder, Batching};
use crate::row::SourceRow;
use crate::row::schema::{self, col};
use crate::time::Timestamp;
use crate::verdict::Check;

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

#[async_trait]
impl SourceTarget for PostgresConfig {
    async fn connect(&self) -> Result<Arc<dyn Source>, Error> {
        Ok(Arc::new(PostgresSource::connect(self).await?))
    }

    fn with_wait_cap(&self, cap: Duration) -> SourceConfig {
        Arc::new(PostgresConfig {
            connect_cap: Some(cap),
            read_timeout: self.read_timeout.min(cap),
            ..self.clone()
        })
    }
}

#[derive(Clone)]
struct PostgresSource {
    client: Arc<Client>,
    description: String,
    read_timeout: Duration,
}

impl PostgresSource {
    async fn connect(config: &PostgresConfig) -> Result<PostgresSource, Error> {
        let settings = crate::pg::settings(&config.url).map_err(connect_error)?;
        let client = crate::pg::connect(&settings, config.connect_cap)
            .await
            .map_err(connect_error)?;
        Ok(PostgresSource {
            client: Arc::new(client),
            description: settings.describe(),
            read_timeout: config.read_timeout,
        })
    }

    /// Waits for `work` on the server, at most the read timeout.
    async fn wait<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> anyhow::Result<T> {
        match tokio::time::timeout(self.read_timeout, work).await {
            Ok(result) => result.map_err(|e| self.query_error(e)),
            Err(_) => Err(anyhow::Error::new(Hint::new(
                format!(
                    "PostgreSQL at {} sent nothing for {} s while {what} (a stopped or \
                     overloaded server, or a broken network path)",
                    self.description,
                    self.read_timeout.as_secs(),
                ),
                format!(
                    "look at the server (pg_stat_activity, its log); if a very large first \
                     export legitimately sorts for longer, raise --db-read-timeout-seconds ({})",
                    crate::env_vars::DB_READ_TIMEOUT_SECONDS
                ),
            ))),
        }
    }
}

#[async_trait]
impl Source for PostgresSource {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn count(&self, query: &Query) -> anyhow::Result<u64> {
        let (filter, params) = where_clause(query);
        let sql = format!("SELECT count(*) FROM {TABLE} WHERE {filter}");
        let row = self
            .wait(
                "counting pending rows",
                self.client.query_typed_one(&sql, &param_refs(&params)),
            )
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    async fn backlog(&self, query: &Query) -> anyhow::Result<Backlog> {
        self.backlog_after(query).await
    }

    fn stream(&self, query: Query, batching: Batching) -> BatchReceiver {
        let source = self.clone();
        super::spawn_reader(self.describe(), move |tx| async move {
            source.read_into(&query, batching, &tx).await
        })
    }

    /// Fingerprints per bucket in one aggregate query: the bucket from the whole seconds of
    /// `created_at` (exact whatever the server's float settings), the hash from the id's first
    /// 64 bits read as a signed bigint and summed as numeric, the change marker the sum of
    /// `xmin` (readable by any role that reads the table, and in the same scan).
    async fn fingerprints(
        &self,
        query: &Query,
        bucket_seconds: u64,
    ) -> anyhow::Result<BTreeMap<i64, Fingerprint>> {
        self.fingerprints_by_bucket(query, bucket_seconds).await
    }

    async fn audit_and_backlog(
        &self,
        audit: &Query,
        bucket_seconds: u64,
        backlog: &Query,
    ) -> anyhow::Result<(BTreeMap<i64, Fingerprint>, Backlog)> {
        self.audit_and_backlog_at_once(audit, bucket_seconds, backlog)
            .await
    }

    async fn existing(&self, ids: &[Uuid]) -> anyhow::Result<HashSet<Uuid>> {
        let sql = format!("SELECT id FROM {TABLE} WHERE id = ANY($1)");
        let ids = ids.to_vec();
        let rows = self
            .wait(
                "looking up follow-ups by id",
                self.client.query_typed(&sql, &[(&ids, Type::UUID_ARRAY)]),
            )
            .await?;
        rows.iter()
            .map(|row| row.try_get(0).context("decoding id"))
            .collect()
    }

    async fn check(&self) -> Vec<Check> {
        self.checks().await
    }
}

impl PostgresSource {
    async fn read_into(
        &self,
        query: &Query,
        batching: Batching,
        tx: &BatchSender,
    ) -> anyhow::Result<()> {
        let (filter, mut params) = where_clause(query);
        // The json column arrives as its text, exactly as stored.
        let columns = schema::select_list(|c| match c.sql {
            "platform_context" => "platform_context::text".into(),
            other => other.into(),
        });
        // Then the row's change marker: the transaction that wrote its current version.
        let mut sql = format!(
            "SELECT {columns}, xmin::text::bigint FROM {TABLE} WHERE {filter} ORDER BY created_at, id"
        );
        if let Some(limit) = query.limit {
            params.push((
                Box::new(i64::try_from(limit).unwrap_or(i64::MAX)),
                Type::INT8,
            ));
            let _ = write!(sql, " LIMIT ${}", params.len());
        }
        // One unnamed statement (parse, bind and execute in one round trip): nothing is left
        // prepared on the server, so PgBouncer in transaction pooling mode works.
        let rows = self
            .wait(
                &format!("starting to read {TABLE}"),
                self.client.query_typed_raw(&sql, param_refs(&params)),
            )
            .await?;
        pin_mut!(rows);
        let mut builder = BatchBuilder::new(batching);
        while let Some(row) = self
            .wait(&format!("reading {TABLE}"), async {
                rows.next().await.transpose()
            })
            .await?
        {
            let change: i64 = row
                .try_get(schema::COLUMNS.len())
                .context("decoding xmin")?;
            if let Some(batch) = builder.push_marked(decode(&row)?, Some(change as u64))
                && tx.send(Ok(batch)).await.is_err()
            {
                return Ok(()); // the run stopped listening (output closed or failed)
            }
        }
        if let Some(batch) = builder.finish() {
            let _ = tx.send(Ok(batch)).await;
        }
        Ok(())
    }

    fn query_error(&self, e: tokio_postgres::Error) -> anyhow::Error {
        if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
            return anyhow::Error::new(Hint::new(
                format!("table {TABLE} does not exist in {}", self.description),
                fix_for(&e),
            ));
        }
        anyhow::Error::new(Hint::new(
            format!(
                "reading {TABLE} from {} failed: {}",
                self.description,
                crate::redact::error_chain(&e)
            ),
            fix_for(&e),
        ))
    }

    async fn fingerprints_by_bucket(
        &self,
        query: &Query,
        bucket_seconds: u64,
    ) -> anyhow::Result<BTreeMap<i64, Fingerprint>> {
        let (filter, mut params) = where_clause(query);
        params.push((
            Box::new(i64::try_from(bucket_seconds.max(1)).unwrap_or(i64::MAX)),
            Type::INT8,
        ));
        let sql = format!(
            "SELECT floor(extract(epoch FROM date_trunc('second', created_at)) / ${}::bigint)::bigint AS bucket, \
             count(*), sum(('x' || left(replace(id::text, '-', ''), 16))::bit(64)::bigint)::text, \
             sum(xmin::text::bigint)::text \
             FROM {TABLE} WHERE {filter} GROUP BY 1",
            params.len()
        );
        let rows = self
            .wait(
                "auditing delivered rows",
                self.client.query_typed(&sql, &param_refs(&params)),
            )
            .await?;
        let mut fingerprints = BTreeMap::new();
        for row in rows {
            let bucket: i64 = row.get(0);
            let count = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            let sum: String = row.get(2);
            let changes: String = row.get(3);
            let fingerprint = Fingerprint::from_sql_sums(count, &sum, &changes)?;
            fingerprints.insert(bucket, fingerprint);
        }
        Ok(fingerprints)
    }
}

/// Parameters with their types, for unnamed statements.
type Params = Vec<(Box<dyn ToSql + Sync + Send>, Type)>;

/// The `WHERE` shared by the export, its count and the audit's fingerprints.
fn where_clause(query: &Query) -> (String, Params) {
    let mut params: Params = vec![(Box::new(query.settle.as_secs_f64()), Type::FLOAT8)];
    let mut filter = String::from("created_at <= now() - make_interval(secs => $1)");
    if let Some(hold_back) = query.hold_back {
        // Rows of a transaction still open have created_at >= its start: stop before the
        // oldest one, so they are not passed over. Sessions of other roles are visible only
        // with pg_read_all_stats; without it this cap is simply absent.
        params.push((Box::new(hold_back.as_secs_f64()), Type::FLOAT8));
        let _ = write!(
            filter,
            " AND created_at < coalesce((SELECT min(xact_start) {}), 'infinity')",
            open_transactions(&format!("${}", params.len()))
        );
    }
    let conditions = filter::conditions(query, |param| bind(&mut params, param));
    filter.push_str(&conditions);
    (filter, params)
}

/// `FROM pg_stat_activity WHERE …`: the other sessions of this database with a transaction
/// open, ignoring those open longer than the seconds in `longest`.
fn open_transactions(longest: &str) -> String {
    format!(
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND backend_type = 'client backend' AND xact_start > now() - make_interval(secs => {longest})"
    )
}

/// Records `param` and returns its placeholder.
fn bind(params: &mut Params, param: Param) -> String {
    params.push(match param {
        Param::Time(at) => (Box::new(at.to_datetime()), Type::TIMESTAMPTZ),
        Param::Id(id) => (Box::new(id), Type::UUID),
        Param::Text(text) => (Box::new(text), Type::TEXT),
    });
    format!("${}", params.len())
}

fn param_refs(params: &Params) -> Vec<(&(dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|(p, t)| (p.as_ref() as &(dyn ToSql + Sync), t.clone()))
        .collect()
}

fn decode(row: &Row) -> anyhow::Result<SourceRow> {
    let id: Uuid = row.try_get(col::ID).context("decoding id")?;
    let created_at: DateTime<Utc> = row
        .try_get(col::CREATED_AT)
        .with_context(|| format!("decoding created_at of follow-up {id}"))?;
    let text = |i: usize| -> anyhow::Result<Option<String>> {
        row.try_get(i)
            .with_context(|| format!("decoding {} of follow-up {id}", schema::COLUMNS[i].sql))
    };
    Ok(SourceRow {
        id,
        provider_id: text(col::PROVIDER_ID)?.unwrap_or_default(),
        provider_name: text(col::PROVIDER_NAME)?,
        action: text(col::ACTION)?.unwrap_or_default(),
        notes: text(col::NOTES)?,
        platform_context: text(col::PLATFORM_CONTEXT)?,
        conversion_cursor: text(col::CONVERSION_CURSOR)?,
        conversion_href: text(col::CONVERSION_HREF)?,
        created_at: Timestamp::try_from_micros(created_at.timestamp_micros()).ok_or_else(|| {
            anyhow::anyhow!(
                "malformed row: follow-up {id} has created_at {created_at}, outside the years 1 \
                 to 9999 that the feed can carry; fix it in the source"
            )
        })?,
    })
}

/// What to do about a PostgreSQL error, for messages.
pub fn fix_for(e: &tokio_postgres::Error) -> &'static str {
    match e.code() {
        Some(code)
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            "check the user and password in DATABASE_URL"
        }
        Some(code) if *code == SqlState::INVALID_CATALOG_NAME => {
            "check the database name at the end of DATABASE_URL"
        }
        Some(code) if *code == SqlState::UNDEFINED_TABLE => {
            "point DATABASE_URL at the application's database, the one holding provider_guardrail_followup"
        }
        Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => {
            "grant the export role read access: GRANT SELECT ON provider_guardrail_followup TO <role>"
        }
        Some(_) => "see the database's message above",
        None => {
            "check the host and port in DATABASE_URL and that the server accepts connections from here"
        }
    }
}

/// Connection problems: configuration ones exit 2, the rest 1.
fn connect_error(e: crate::pg::ConnectError) -> Error {
    match e {
        crate::pg::ConnectError::Config { problem, fix } => Error::Config { problem, fix },
        crate::pg::ConnectError::Failed(hint) => Error::runtime(hint),
    }
}
