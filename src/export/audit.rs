//! The run's late-row audit: compare the fingerprints of what was delivered over the audit
//! window with the source's, and send every bucket that differs again, whole (see
//! [`crate::cursor::fingerprint`]).

use std::time::Instant;

use super::batch::Batching;
use super::ledger::{Effect, Ledger};
use super::sink::{Ack, Sink, SinkError};
use super::source::{Backlog, Query, Source};
use super::{ExportConfig, LateRows};
use crate::archive::Spool;
use crate::cursor::Position;
use std::collections::BTreeMap;

use crate::cursor::fingerprint::{AuditState, Fingerprint, bucket_of, bucket_start, compare};
use crate::error::Error;

pub(super) enum AuditError {
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

/// The rows the audit compares: after the start of the window (or of the fingerprints kept),
/// up to the cursor. `None` before anything was delivered. Prunes the buckets that left the
/// window.
pub(super) fn window(config: &ExportConfig, ledger: &mut Ledger<'_>) -> Option<Query> {
    let cursor = ledger.state.position?;
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
    Some(Query {
        after: Some(after),
        until: Some(cursor),
        provider_id: config.provider_id.clone(),
        ..Query::default()
    })
}

/// The source's side of the audit: fingerprints already read (with the backlog, before a run
/// that found nothing new), or to be read now together with the backlog after this position.
pub(super) enum Found {
    Read(BTreeMap<i64, Fingerprint>),
    WithBacklog(Query),
}

/// Compares the delivered fingerprints of the audit window with the source's, and sends every
/// bucket that differs again, whole. Returns what it found and, when it counted it, the
/// backlog.
pub(super) async fn audit(
    config: &ExportConfig,
    source: &dyn Source,
    sink: &mut dyn Sink,
    ledger: &mut Ledger<'_>,
    spool: &mut Spool,
    batching: Batching,
    found: Found,
) -> Result<(LateRows, Option<Backlog>), AuditError> {
    let Some(window) = self::window(config, ledger) else {
        return Ok((LateRows::default(), None));
    };
    let bucket_micros = config.audit.bucket_micros();
    let after = window.after.expect("the window starts somewhere");
    let cursor = window.until.expect("the window ends at the cursor");
    let started = Instant::now();
    let (found, backlog) = match found {
        Found::Read(found) => (found, None),
        Found::WithBacklog(backlog) => {
            let (found, backlog) = source
                .audit_and_backlog(&window, config.audit.bucket.as_secs(), &backlog)
                .await
                .map_err(Error::from)?;
            (found, Some(backlog))
        }
    };
    let audit_state = ledger
        .state
        .audit
        .as_mut()
        .expect("the window set up the audit state");
    audit_state.adopt_markers(&found);
    let differences = compare(&audit_state.buckets, &found);
    let mut late = LateRows {
        buckets_checked: found.len() as u64,
        ..LateRows::default()
    };
    for difference in differences {
        late.found += difference.late_rows();
        late.missing += difference.missing_rows();
        let (delivered, found) = (difference.delivered, difference.source);
        if (delivered.count, delivered.sum) == (found.count, found.sum) {
            late.edited_buckets += 1;
            tracing::info!(
                "follow-ups with created_at in [{}, +{}s) were edited after delivery: sending \
                 them again",
                bucket_start(difference.bucket, bucket_micros),
                config.audit.bucket.as_secs()
            );
        }
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
        late.delivered += redeliver(
            difference.bucket,
            bucket,
            source,
            sink,
            ledger,
            spool,
            batching,
        )
        .await?;
    }
    tracing::debug!(
        buckets = late.buckets_checked,
        found = late.found,
        seconds = started.elapsed().as_secs_f64(),
        "late-row audit done"
    );
    Ok((late, backlog))
}

/// Sends one bucket's rows; once all are acknowledged, its fingerprint becomes theirs. Each
/// batch acknowledged joins the run's archive.
async fn redeliver(
    bucket: i64,
    query: Query,
    source: &dyn Source,
    sink: &mut dyn Sink,
    ledger: &mut Ledger<'_>,
    spool: &mut Spool,
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
        // One batch at a time, whatever the sink's concurrency: a bucket counts only once all
        // of it was acknowledged, and buckets are few.
        let rows = batch.rows;
        let spooled = spool.append(&batch.ndjson, rows)?;
        match sink.send(batch).await {
            Ok(ack) => {
                super::spooled(spool, spooled, ack);
                sent.push((rows, ack));
            }
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
