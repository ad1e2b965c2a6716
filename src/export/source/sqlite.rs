//! SQLite source, for local work and the demo. The table has the same name and columns as in
//! PostgreSQL, with `id` and `created_at` stored as text (`created_at` in the exported form,
//! `2026-01-22T04:00:00.000000Z`, so that text order is time order).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{Connection, OpenFlags, ToSql};
use tokio::sync::mpsc;

use super::{Query, TABLE};
use crate::error::ExportError;
use crate::export::batch::{Batch, BatchBuilder};
use crate::row::{SourceRow, Timestamp};

pub struct SqliteSource {
    path: PathBuf,
}

impl SqliteSource {
    pub fn open(path: &Path) -> Result<SqliteSource, ExportError> {
        if !path.is_file() {
            return Err(ExportError::config(format!(
                "no SQLite database at {}: check the sqlite:// URL, or use --demo for the sample database",
                path.display()
            )));
        }
        Ok(SqliteSource {
            path: path.to_owned(),
        })
    }

    pub fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    fn connect(&self) -> anyhow::Result<Connection> {
        Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening SQLite database {}", self.path.display()))
    }

    pub async fn count(&self, query: &Query) -> anyhow::Result<u64> {
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

    pub fn stream(self, query: Query, batch_size: u64, tx: mpsc::Sender<anyhow::Result<Batch>>) {
        tokio::task::spawn_blocking(move || {
            if let Err(e) = self.read_into(&query, batch_size, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        });
    }

    fn read_into(
        &self,
        query: &Query,
        batch_size: u64,
        tx: &mpsc::Sender<anyhow::Result<Batch>>,
    ) -> anyhow::Result<()> {
        let conn = self.connect()?;
        let (filter, mut params) = where_clause(query);
        let mut sql = format!(
            "SELECT id, provider_id, provider_name, action, notes, platform_context, \
             conversion_cursor, conversion_href, created_at FROM {TABLE} WHERE {filter} \
             ORDER BY created_at, id"
        );
        if let Some(limit) = query.limit {
            params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
            sql.push_str(" LIMIT ?");
        }
        let mut statement = conn.prepare(&sql).map_err(|e| self.query_error(e))?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| self.query_error(e))?;
        let mut builder = BatchBuilder::new(batch_size);
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

    fn query_error(&self, e: rusqlite::Error) -> anyhow::Error {
        if e.to_string().contains("no such table") {
            return anyhow::anyhow!("table {TABLE} does not exist in {}", self.describe());
        }
        anyhow::anyhow!("reading {TABLE} from {} failed: {e}", self.describe())
    }
}

fn where_clause(query: &Query) -> (String, Vec<Box<dyn ToSql + Send>>) {
    let bound = Timestamp::from_micros(
        Timestamp::now().micros() - i64::try_from(query.settle.as_micros()).unwrap_or(i64::MAX),
    );
    let mut params: Vec<Box<dyn ToSql + Send>> = vec![Box::new(bound.to_string())];
    let mut filter = String::from("created_at <= ?");
    if let Some(after) = query.after {
        let ts = after.created_at.to_string();
        match after.id {
            Some(id) => {
                filter.push_str(" AND (created_at > ? OR (created_at = ? AND id > ?))");
                params.push(Box::new(ts.clone()));
                params.push(Box::new(ts));
                params.push(Box::new(id.to_string()));
            }
            None => {
                filter.push_str(" AND created_at >= ?");
                params.push(Box::new(ts));
            }
        }
    }
    if let Some(provider) = &query.provider_id {
        filter.push_str(" AND provider_id = ?");
        params.push(Box::new(provider.clone()));
    }
    (filter, params)
}

/// Decodes one row; a malformed id or timestamp stops the run at this row, naming it.
fn decode(row: &rusqlite::Row<'_>) -> anyhow::Result<SourceRow> {
    let raw_id: String = row.get(0)?;
    let raw_created: String = row.get(8)?;
    let id = uuid::Uuid::parse_str(&raw_id).map_err(|_| {
        anyhow::anyhow!("malformed row: id `{raw_id}` (created_at {raw_created}) is not a uuid; fix or remove it in the source")
    })?;
    let created_at = Timestamp::parse(&raw_created).map_err(|reason| {
        anyhow::anyhow!(
            "malformed row: follow-up {id} has created_at {reason}; fix it in the source"
        )
    })?;
    Ok(SourceRow {
        id,
        provider_id: row.get(1)?,
        provider_name: row.get(2)?,
        action: row.get(3)?,
        notes: row.get(4)?,
        platform_context: row.get(5)?,
        conversion_cursor: row.get(6)?,
        conversion_href: row.get(7)?,
        created_at,
    })
}
