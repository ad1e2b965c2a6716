//! Writing the status JSON ([`crate::status::Status`]) after every run — successful, failed or
//! interrupted — to a file or an S3 object.
//!
//! What a run does not know itself (the cursor after a failure, the last success, the earlier
//! runs) is carried over from the status it replaces; a previous status that cannot be read
//! carries nothing.

use std::time::Duration;

use crate::cursor::CursorState;
use anyhow::Context;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use super::ReportConfig;
use crate::export::Summary;
use crate::export::source::HoldReason;
use crate::location::{Location, Place};
use crate::outcome::Outcome;
use crate::s3::{S3Options, S3Uri, open_bucket};
use crate::status::{Cursor, Field, HISTORY_RUNS, HeldBack, Run, Status, VERSION};
use crate::time::Timestamp;

/// Where the status is written.
#[derive(Debug, Clone)]
pub enum StatusTarget {
    File(std::path::PathBuf),
    S3 { uri: S3Uri, options: S3Options },
}

impl StatusTarget {
    /// A file path, `file:///path` or `s3://bucket/key`.
    pub fn parse(text: &str, options: &S3Options) -> Result<StatusTarget, String> {
        Ok(match Location::parse(text, Place::FILE_OR_OBJECT)? {
            Location::Local(path) => StatusTarget::File(path),
            Location::S3(uri) => StatusTarget::S3 {
                uri,
                options: options.clone(),
            },
            Location::Http(_) => unreachable!("FILE_OR_OBJECT takes no http URL"),
        })
    }
}

/// What a run knows of itself when it reports.
#[derive(Debug, Clone)]
pub struct RunFacts<'a> {
    pub outcome: Outcome,
    /// The run's summary, when it succeeded.
    pub summary: Option<&'a Summary>,
    /// The scrubbed error line, when it did not.
    pub error: Option<String>,
    /// When it did not: the cursor as the store holds it after the run, which may have moved
    /// over rows the run delivered before it stopped.
    pub cursor_after: Option<&'a CursorState>,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub duration: Duration,
}

/// The status at `target`, as the next status carries it over: empty when there is none or it
/// cannot be read.
pub async fn read_previous(target: &StatusTarget) -> Status {
    let bytes = match target {
        StatusTarget::File(path) => std::fs::read(path).ok(),
        StatusTarget::S3 { uri, options } => match open_bucket(&uri.bucket, options) {
            Ok(store) => {
                let get = async {
                    store
                        .get(&ObjectPath::from(uri.key.as_str()))
                        .await
                        .ok()?
                        .bytes()
                        .await
                        .ok()
                        .map(|b| b.to_vec())
                };
                tokio::time::timeout(READ_TIMEOUT, get).await.ok().flatten()
            }
            Err(_) => None,
        },
    };
    bytes
        .and_then(|b| Status::parse(&b).ok())
        .unwrap_or_default()
}

/// How long reading the previous status may take before the run reports without it.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The status after `run`, replacing `previous`.
pub fn status_of(run: &RunFacts<'_>, previous: &Status, config: &ReportConfig) -> Status {
    let summary = run.summary;
    // What the source held after the cursor, when the run counted it.
    let backlog = summary.and_then(|s| s.backlog);
    let cursor_of = |position: Option<crate::cursor::Position>| {
        (
            Field::from(position.map(|p| Cursor::at(p.created_at.to_datetime()))),
            Field::from(position.and_then(|p| p.id).map(|id| id.to_string())),
        )
    };
    let previous_total = previous.total_rows.value().copied();
    let (cursor, cursor_id, total_rows) = match (summary, run.cursor_after) {
        (Some(s), _) => {
            let (cursor, id) = cursor_of(s.cursor);
            (cursor, id, s.total_rows)
        }
        (None, Some(after)) => {
            let (cursor, id) = cursor_of(after.position);
            (cursor, id, after.total_rows)
        }
        (None, None) => (
            carried(&previous.cursor),
            carried(&previous.cursor_id),
            previous_total.unwrap_or(0),
        ),
    };
    // A run that stopped counts what its cursor moved over since the status it replaces.
    let rows = match (summary, run.cursor_after) {
        (Some(s), _) => s.rows,
        (None, Some(after)) => after.total_rows.saturating_sub(previous_total.unwrap_or(0)),
        (None, None) => 0,
    };
    let late_rows = summary.map_or(0, |s| s.late.found);
    let duration_seconds = (run.duration.as_secs_f64() * 1000.0).round() / 1000.0;
    let started_at = run.started_at.to_datetime();
    let last_success_at = if run.outcome == Outcome::Success {
        Field::Value(run.ended_at.to_datetime())
    } else {
        carried(&previous.last_success_at)
    };
    let keep = previous.history.len().min(HISTORY_RUNS - 1);
    let mut history = previous.history[previous.history.len() - keep..].to_vec();
    history.push(Run {
        started_at: Some(started_at),
        duration_seconds: Some(duration_seconds),
        rows: Some(rows),
        late_rows: Some(late_rows),
        outcome: run.outcome,
    });
    Status {
        version: Field::Value(VERSION),
        outcome: Field::Value(run.outcome),
        error: run.error.clone().into(),
        started_at: Field::Value(started_at),
        duration_seconds: Field::Value(duration_seconds),
        cursor,
        cursor_id,
        rows: Field::Value(rows),
        total_rows: Field::Value(total_rows),
        late_rows: Field::Value(late_rows),
        pending_rows: backlog.map(|b| b.pending).into(),
        oldest_pending_at: backlog
            .and_then(|b| b.oldest)
            .map(Timestamp::to_datetime)
            .into(),
        held_back: backlog
            .and_then(|b| b.held_back)
            .map(|held| HeldBack {
                rows: held.rows,
                reason: held.reason.kind(),
                since: Some(held.since.to_datetime()),
                pid: match held.reason {
                    HoldReason::OpenTransaction { pid } => Some(i64::from(pid)),
                    HoldReason::SettleWindow => None,
                },
            })
            .into(),
        last_success_at,
        updated_at: Field::Value(run.ended_at.to_datetime()),
        download_url: config.download_url.clone().into(),
        workflow_url: config.workflow_url.clone().into(),
        history,
    }
}

/// A value of the previous status, carried over as it was; anything unusable becomes `null`.
fn carried<T: Clone>(field: &Field<T>) -> Field<T> {
    field.value().cloned().into()
}

/// Writes `status` to `target`, atomically.
pub async fn publish(status: &Status, target: &StatusTarget) -> anyhow::Result<()> {
    let body = status.to_bytes();
    match target {
        StatusTarget::File(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            crate::fs::write_atomically(path, &body, crate::fs::Readers::Umask)
                .with_context(|| format!("writing the status {}", path.display()))
        }
        StatusTarget::S3 { uri, options } => {
            let store = open_bucket(&uri.bucket, options)?;
            store
                .put(
                    &ObjectPath::from(uri.key.as_str()),
                    PutPayload::from(Bytes::from(body)),
                )
                .await
                .with_context(|| format!("writing the status {uri}"))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
