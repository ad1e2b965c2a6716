//! An in-memory source for tests of the run: rows held in a list, selected and ordered as the
//! databases do, and a failure that can be injected after some rows.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{Backlog, BatchReceiver, HeldBack, Query, Source, SourceConfig, SourceTarget};
use crate::cursor::Fingerprint;
use crate::error::Error;
use crate::export::batch::{BatchBuilder, Batching, fingerprint_unmarked};
use crate::row::SourceRow;
use crate::time::Timestamp;
use crate::verdict::{Check, Verdict};
use uuid::Uuid;

/// Rows shared with the test, which may add more between runs.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    rows: Arc<Mutex<Vec<SourceRow>>>,
    /// The stream fails after this many rows.
    fail_after: Arc<Mutex<Option<usize>>>,
}

impl MemorySource {
    pub fn insert(&self, rows: impl IntoIterator<Item = SourceRow>) {
        self.lock_rows().extend(rows);
    }

    pub fn remove(&self, id: uuid::Uuid) {
        self.lock_rows().retain(|row| row.id != id);
    }

    /// The next streams fail after `rows` rows.
    pub fn fail_after(&self, rows: Option<usize>) {
        *self
            .fail_after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = rows;
    }

    fn lock_rows(&self) -> std::sync::MutexGuard<'_, Vec<SourceRow>> {
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The rows the query selects, in `(created_at, id)` order.
    fn select(&self, query: &Query) -> Vec<SourceRow> {
        let settled = settled(query);
        let mut rows: Vec<SourceRow> = self
            .lock_rows()
            .iter()
            .filter(|row| {
                let key = (row.created_at, row.id);
                row.created_at <= settled
                    && query.after.is_none_or(|after| match after.id {
                        Some(id) => key > (after.created_at, id),
                        None => row.created_at >= after.created_at,
                    })
                    && query.until.is_none_or(|until| match until.id {
                        Some(id) => key <= (until.created_at, id),
                        None => row.created_at <= until.created_at,
                    })
                    && query.before.is_none_or(|before| row.created_at < before)
                    && query
                        .provider_id
                        .as_ref()
                        .is_none_or(|provider| &row.provider_id == provider)
            })
            .cloned()
            .collect();
        rows.sort_by_key(|row| (row.created_at, row.id));
        if let Some(limit) = query.limit {
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        rows
    }
}

#[async_trait]
impl SourceTarget for MemorySource {
    async fn connect(&self) -> Result<Arc<dyn Source>, Error> {
        Ok(Arc::new(self.clone()))
    }

    fn with_wait_cap(&self, _cap: Duration) -> SourceConfig {
        Arc::new(self.clone())
    }
}

#[async_trait]
impl Source for MemorySource {
    async fn count(&self, query: &Query) -> anyhow::Result<u64> {
        let query = Query {
            limit: None,
            ..query.clone()
        };
        Ok(self.select(&query).len() as u64)
    }

    async fn backlog(&self, query: &Query) -> anyhow::Result<Backlog> {
        let all = Query {
            after: query.after,
            provider_id: query.provider_id.clone(),
            ..Query::default()
        };
        let rows = self.select(&all);
        let settled = settled(query);
        let held = rows.iter().filter(|row| row.created_at > settled).count() as u64;
        Ok(Backlog {
            pending: rows.len() as u64,
            oldest: rows.first().map(|row| row.created_at),
            held_back: HeldBack::of(held, settled, None),
        })
    }

    fn stream(&self, query: Query, batching: Batching) -> BatchReceiver {
        let rows = self.select(&query);
        let fail_after = *self
            .fail_after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        super::spawn_reader(self.describe(), move |tx| async move {
            let mut builder = BatchBuilder::new(batching);
            for (n, row) in rows.into_iter().enumerate() {
                if fail_after == Some(n) {
                    anyhow::bail!("the memory source failed after {n} rows");
                }
                if let Some(batch) = builder.push(row)
                    && tx.send(Ok(batch)).await.is_err()
                {
                    return Ok(());
                }
            }
            if let Some(batch) = builder.finish() {
                let _ = tx.send(Ok(batch)).await;
            }
            Ok(())
        })
    }

    async fn fingerprints(
        &self,
        query: &Query,
        bucket_seconds: u64,
    ) -> anyhow::Result<BTreeMap<i64, Fingerprint>> {
        let bucket_micros = i64::try_from(bucket_seconds.max(1) * 1_000_000).unwrap_or(i64::MAX);
        let mut fingerprints: BTreeMap<i64, Fingerprint> = BTreeMap::new();
        let mut line = Vec::new();
        for row in self.select(query) {
            fingerprint_unmarked(&mut fingerprints, bucket_micros, row, &mut line);
        }
        Ok(fingerprints)
    }

    async fn existing(&self, ids: &[Uuid]) -> anyhow::Result<HashSet<Uuid>> {
        let rows = self.lock_rows();
        Ok(rows
            .iter()
            .filter(|row| ids.contains(&row.id))
            .map(|row| row.id)
            .collect())
    }

    fn describe(&self) -> String {
        "memory".into()
    }

    async fn check(&self) -> Vec<Check> {
        vec![("database", Verdict::Ok("memory".into()))]
    }
}

/// The settle window's bound: rows created after it wait.
fn settled(query: &Query) -> Timestamp {
    Timestamp::from_micros(
        Timestamp::now().micros() - i64::try_from(query.settle.as_micros()).unwrap_or(0),
    )
}
