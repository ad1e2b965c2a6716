//! PostgreSQL source: one ordered query per run, streamed row by row.
//!
//! The table has no index on `created_at` in the application's migrations, so paging with
//! repeated `LIMIT` queries would scan and sort the table once per page. One streamed query
//! scans and sorts once; tokio-postgres applies backpressure, so memory stays bounded.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, pin_mut};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Row};
use uuid::Uuid;

use super::{Query, TABLE};
use crate::error::ExportError;
use crate::export::audit::Fingerprint;
use crate::export::batch::{Batch, BatchBuilder, Batching};
use crate::row::{SourceRow, Timestamp};

/// How long to wait for the server when the URL sets no `connect_timeout`, so that an
/// unreachable host fails the run instead of hanging the schedule.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Clone)]
pub struct PostgresSource {
    client: Arc<Client>,
    description: String,
}

impl PostgresSource {
    pub async fn connect(url: &str) -> Result<PostgresSource, ExportError> {
        let mut config: Config = url.parse().map_err(|e| {
            ExportError::config(format!(
                "DATABASE_URL `{}` is not a valid PostgreSQL URL: {e}",
                crate::redact::url(url)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let description = describe(&config);
        let tls = tls_connector();
        let (client, connection) = config.connect(tls).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to PostgreSQL at {description}: {}. Fix: {}",
                crate::redact::error_chain(&e),
                fix_for(&e)
            )
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection closed");
            }
        });
        Ok(PostgresSource {
            client: Arc::new(client),
            description,
        })
    }

    pub fn describe(&self) -> String {
        self.description.clone()
    }

    pub async fn count(&self, query: &Query) -> anyhow::Result<u64> {
        let (filter, params) = where_clause(query);
        let sql = format!("SELECT count(*) FROM {TABLE} WHERE {filter}");
        let row = self
            .client
            .query_one(&sql, &param_refs(&params))
            .await
            .map_err(|e| self.query_error(e))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    pub fn stream(
        &self,
        query: Query,
        batching: Batching,
        tx: mpsc::Sender<anyhow::Result<Batch>>,
    ) {
        let source = self.clone();
        tokio::spawn(async move {
            if let Err(e) = source.read_into(&query, batching, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
    }

    async fn read_into(
        &self,
        query: &Query,
        batching: Batching,
        tx: &mpsc::Sender<anyhow::Result<Batch>>,
    ) -> anyhow::Result<()> {
        let (filter, mut params) = where_clause(query);
        let mut sql = format!(
            "SELECT id, provider_id, provider_name, action, notes, platform_context::text, \
             conversion_cursor, conversion_href, created_at FROM {TABLE} WHERE {filter} \
             ORDER BY created_at, id"
        );
        if let Some(limit) = query.limit {
            params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" LIMIT ${}", params.len()));
        }
        let rows = self
            .client
            .query_raw(&sql, param_refs(&params))
            .await
            .map_err(|e| self.query_error(e))?;
        pin_mut!(rows);
        let mut builder = BatchBuilder::new(batching);
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| self.query_error(e))?;
            if let Some(batch) = builder.push(decode(&row)?)
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
            return anyhow::anyhow!(
                "table {TABLE} does not exist in {}. Fix: {}",
                self.description,
                fix_for(&e)
            );
        }
        anyhow::anyhow!(
            "reading {TABLE} from {} failed: {}. Fix: {}",
            self.description,
            crate::redact::error_chain(&e),
            fix_for(&e)
        )
    }

    /// Fingerprints per bucket in one aggregate query: the bucket from the whole seconds of
    /// `created_at` (exact whatever the server's float settings), the hash from the id's first
    /// 64 bits read as a signed bigint and summed as numeric.
    pub async fn fingerprints(
        &self,
        query: &Query,
        bucket_seconds: u64,
    ) -> anyhow::Result<BTreeMap<i64, Fingerprint>> {
        let (filter, mut params) = where_clause(query);
        params.push(Box::new(
            i64::try_from(bucket_seconds.max(1)).unwrap_or(i64::MAX),
        ));
        let sql = format!(
            "SELECT floor(extract(epoch FROM date_trunc('second', created_at)) / ${}::bigint)::bigint AS bucket, \
             count(*), sum(('x' || left(replace(id::text, '-', ''), 16))::bit(64)::bigint)::text \
             FROM {TABLE} WHERE {filter} GROUP BY 1",
            params.len()
        );
        let rows = self
            .client
            .query(&sql, &param_refs(&params))
            .await
            .map_err(|e| self.query_error(e))?;
        let mut fingerprints = BTreeMap::new();
        for row in rows {
            let bucket: i64 = row.get(0);
            let count = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            let sum: String = row.get(2);
            let fingerprint =
                Fingerprint::from_sql_sum(count, &sum).map_err(|e| anyhow::anyhow!("{e}"))?;
            fingerprints.insert(bucket, fingerprint);
        }
        Ok(fingerprints)
    }

    /// Reads one row, to prove the table exists and the role may read it; returns the
    /// planner's estimate of the table's rows.
    pub async fn probe(&self) -> anyhow::Result<u64> {
        self.client
            .query(&format!("SELECT 1 FROM {TABLE} LIMIT 1"), &[])
            .await
            .map_err(|e| self.query_error(e))?;
        let row = self
            .client
            .query_one(
                "SELECT greatest(reltuples, 0)::int8 FROM pg_class WHERE oid = $1::text::regclass",
                &[&TABLE],
            )
            .await
            .map_err(|e| self.query_error(e))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Whether this role sees other roles' transactions in `pg_stat_activity` (superuser or
    /// member of `pg_read_all_stats`), which the hold-back before open transactions needs.
    pub async fn sees_all_sessions(&self) -> anyhow::Result<bool> {
        let row = self
            .client
            .query_one(
                "SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'member') \
                 FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .map_err(|e| self.query_error(e))?;
        Ok(row.get(0))
    }

    /// The definitions of the table's indexes whose first column is `created_at`.
    pub async fn created_at_indexes(&self) -> anyhow::Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                 WHERE i.indrelid = $1::text::regclass AND a.attname = 'created_at' AND i.indisvalid",
                &[&TABLE],
            )
            .await
            .map_err(|e| self.query_error(e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// The `WHERE` shared by the export, its count and the audit's fingerprints.
fn where_clause(query: &Query) -> (String, Params) {
    let mut params: Params = vec![Box::new(query.settle.as_secs_f64())];
    let mut filter = String::from("created_at <= now() - make_interval(secs => $1)");
    if let Some(hold_back) = query.hold_back {
        // Rows of a transaction still open have created_at >= its start: stop before the
        // oldest one, so they are not passed over. Sessions of other roles are visible only
        // with pg_read_all_stats; without it this cap is simply absent.
        params.push(Box::new(hold_back.as_secs_f64()));
        filter.push_str(&format!(
            " AND created_at < coalesce((SELECT min(xact_start) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND backend_type = 'client backend' AND xact_start > now() - make_interval(secs => ${})), 'infinity')",
            params.len()
        ));
    }
    if let Some(after) = query.after {
        params.push(Box::new(after.created_at.to_datetime()));
        match after.id {
            Some(id) => {
                params.push(Box::new(id));
                filter.push_str(&format!(
                    " AND (created_at, id) > (${}, ${})",
                    params.len() - 1,
                    params.len()
                ));
            }
            None => filter.push_str(&format!(" AND created_at >= ${}", params.len())),
        }
    }
    if let Some(until) = query.until {
        params.push(Box::new(until.created_at.to_datetime()));
        match until.id {
            Some(id) => {
                params.push(Box::new(id));
                filter.push_str(&format!(
                    " AND (created_at, id) <= (${}, ${})",
                    params.len() - 1,
                    params.len()
                ));
            }
            None => filter.push_str(&format!(" AND created_at <= ${}", params.len())),
        }
    }
    if let Some(before) = query.before {
        params.push(Box::new(before.to_datetime()));
        filter.push_str(&format!(" AND created_at < ${}", params.len()));
    }
    if let Some(provider) = &query.provider_id {
        params.push(Box::new(provider.clone()));
        filter.push_str(&format!(" AND provider_id = ${}", params.len()));
    }
    (filter, params)
}

fn param_refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn decode(row: &Row) -> anyhow::Result<SourceRow> {
    let id: Uuid = row.try_get(0).context("decoding id")?;
    let created_at: DateTime<Utc> = row
        .try_get(8)
        .with_context(|| format!("decoding created_at of follow-up {id}"))?;
    let text = |i: usize| -> anyhow::Result<Option<String>> {
        row.try_get(i)
            .with_context(|| format!("decoding column {i} of follow-up {id}"))
    };
    Ok(SourceRow {
        id,
        provider_id: text(1)?.unwrap_or_default(),
        provider_name: text(2)?,
        action: text(3)?.unwrap_or_default(),
        notes: text(4)?,
        platform_context: text(5)?,
        conversion_cursor: text(6)?,
        conversion_href: text(7)?,
        created_at: Timestamp::from_micros(created_at.timestamp_micros()),
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

/// `host:port/dbname` without credentials.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// TLS with the Mozilla root certificates, used when the URL's `sslmode` asks for it
/// (`prefer`, the default, falls back to plain TCP when the server offers no TLS).
fn tls_connector() -> tokio_postgres_rustls::MakeRustlsConnect {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}
