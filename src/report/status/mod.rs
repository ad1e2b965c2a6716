//! The status JSON the admin page reads, written after every run — successful, failed or
//! interrupted. Version 2 keeps every field of version 1 (`cursor`, `cursorId`, `rows`,
//! `totalRows`, `lateRows`, `updatedAt`, `downloadUrl`, `workflowUrl`) with its meaning and
//! adds how the run ended (`version`, `outcome`, `error`, `startedAt`, `durationSeconds`), what
//! it left behind (`pendingRows`, `oldestPendingAt`, `heldBack`), `lastSuccessAt` and the last
//! [`HISTORY_RUNS`] runs (`history`).
//!
//! What a run does not know itself (the cursor after a failure, the last success, the earlier
//! runs) is carried over from the status it replaces; a previous status that cannot be read
//! carries nothing.

use std::path::PathBuf;
use std::time::Duration;

use crate::cursor::CursorState;
use anyhow::Context;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ReportConfig;
use crate::export::Summary;
use crate::export::source::HoldReason;
use crate::outcome::Outcome;
use crate::s3::{S3Options, S3Uri, open_bucket};
use crate::time::Timestamp;

/// The version this exporter writes.
pub const VERSION: u32 = 2;

/// How many runs `history` holds, the newest last.
pub const HISTORY_RUNS: usize = 48;

/// Where the status is written.
#[derive(Debug, Clone)]
pub enum StatusTarget {
    File(PathBuf),
    S3 { uri: S3Uri, options: S3Options },
}

impl StatusTarget {
    /// A file path, or `s3://bucket/key`.
    pub fn parse(text: &str, options: &S3Options) -> Result<StatusTarget, String> {
        if text.starts_with("s3://") {
            Ok(StatusTarget::S3 {
                uri: S3Uri::parse(text, false)?,
                options: options.clone(),
            })
        } else {
            Ok(StatusTarget::File(PathBuf::from(text)))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub version: u32,
    /// `success`, `failed` or `interrupted`.
    pub outcome: String,
    /// The error line the log printed (scrubbed), when the run did not succeed.
    pub error: Option<String>,
    pub started_at: String,
    pub duration_seconds: f64,
    /// `createdAt` of the last row delivered: the next run starts after it.
    pub cursor: Option<String>,
    pub cursor_id: Option<String>,
    /// Rows delivered by this run (0 when a failed run does not know).
    pub rows: u64,
    pub total_rows: u64,
    /// Late rows the audit found behind the cursor in this run (and delivered).
    pub late_rows: u64,
    /// Rows still after the cursor once the run ended, whatever holds them; `None` when not
    /// counted (a run that failed, or a count that did not answer in time).
    pub pending_rows: Option<u64>,
    /// `createdAt` of the oldest of them.
    pub oldest_pending_at: Option<String>,
    /// The pending rows the run left for later on purpose; `None` when none (or not counted).
    pub held_back: Option<HeldBackJson>,
    /// When the last successful run ended: this one, or as the previous status said.
    pub last_success_at: Option<String>,
    pub updated_at: String,
    pub download_url: Option<String>,
    pub workflow_url: Option<String>,
    /// The last [`HISTORY_RUNS`] runs, the newest (this one) last.
    pub history: Vec<RunEntry>,
}

/// `heldBack`: rows a run may not take yet, why, and since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldBackJson {
    pub rows: u64,
    /// `settle-window` or `open-transaction`.
    pub reason: String,
    /// Rows created at or after this instant wait: the settle window's bound, or when the
    /// oldest open transaction began.
    pub since: String,
    /// The open transaction's server process, for `pg_stat_activity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
}

/// One run in `history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEntry {
    pub started_at: String,
    pub duration_seconds: f64,
    pub rows: u64,
    pub late_rows: u64,
    pub outcome: String,
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

/// What is carried over from the status a run replaces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Previous {
    cursor: Option<String>,
    cursor_id: Option<String>,
    total_rows: Option<u64>,
    last_success_at: Option<String>,
    history: Vec<RunEntry>,
}

impl Previous {
    /// Reads what it can from an earlier status (version 1 or 2), field by field; anything
    /// unreadable is left out.
    pub fn from_bytes(bytes: &[u8]) -> Previous {
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(bytes) else {
            return Previous::default();
        };
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
        };
        let history = match object.get("history") {
            Some(Value::Array(runs)) => runs
                .iter()
                .filter_map(|run| serde_json::from_value::<RunEntry>(run.clone()).ok())
                .collect(),
            _ => Vec::new(),
        };
        Previous {
            cursor: text("cursor"),
            cursor_id: text("cursorId"),
            total_rows: object.get("totalRows").and_then(Value::as_u64),
            last_success_at: text("lastSuccessAt").filter(|t| Timestamp::parse(t).is_ok()),
            history,
        }
    }

    /// The status at `target`, or nothing when there is none or it cannot be read.
    pub async fn read(target: &StatusTarget) -> Previous {
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
        bytes.map_or_else(Previous::default, |b| Previous::from_bytes(&b))
    }
}

/// How long reading the previous status may take before the run reports without it.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Status {
    pub fn of(run: &RunFacts<'_>, previous: &Previous, config: &ReportConfig) -> Status {
        let summary = run.summary;
        // What the source held after the cursor, when the run counted it.
        let backlog = summary.and_then(|s| s.backlog);
        let (cursor, cursor_id, total_rows) = match summary {
            Some(s) => (
                s.cursor.map(|p| p.created_at.to_string()),
                s.cursor.and_then(|p| p.id).map(|id| id.to_string()),
                s.total_rows,
            ),
            None => match run.cursor_after {
                Some(after) => (
                    after.position.map(|p| p.created_at.to_string()),
                    after.position.and_then(|p| p.id).map(|id| id.to_string()),
                    after.total_rows,
                ),
                None => (
                    previous.cursor.clone(),
                    previous.cursor_id.clone(),
                    previous.total_rows.unwrap_or(0),
                ),
            },
        };
        // A run that stopped counts what its cursor moved over since the status it replaces.
        let rows = match (summary, run.cursor_after) {
            (Some(s), _) => s.rows,
            (None, Some(after)) => after
                .total_rows
                .saturating_sub(previous.total_rows.unwrap_or(0)),
            (None, None) => 0,
        };
        let late_rows = summary.map_or(0, |s| s.late.found);
        let duration_seconds = (run.duration.as_secs_f64() * 1000.0).round() / 1000.0;
        let started_at = run.started_at.to_string();
        let outcome = run.outcome.label().to_owned();
        let last_success_at = if run.outcome == Outcome::Success {
            Some(run.ended_at.to_string())
        } else {
            previous.last_success_at.clone()
        };
        let keep = previous.history.len().min(HISTORY_RUNS - 1);
        let mut history = previous.history[previous.history.len() - keep..].to_vec();
        history.push(RunEntry {
            started_at: started_at.clone(),
            duration_seconds,
            rows,
            late_rows,
            outcome: outcome.clone(),
        });
        Status {
            version: VERSION,
            outcome,
            error: run.error.clone(),
            started_at,
            duration_seconds,
            cursor,
            cursor_id,
            rows,
            total_rows,
            late_rows,
            pending_rows: backlog.map(|b| b.pending),
            oldest_pending_at: backlog.and_then(|b| b.oldest).map(|t| t.to_string()),
            held_back: backlog.and_then(|b| b.held_back).map(|held| HeldBackJson {
                rows: held.rows,
                reason: held.reason.label().to_owned(),
                since: held.since.to_string(),
                pid: match held.reason {
                    HoldReason::OpenTransaction { pid } => Some(pid),
                    HoldReason::SettleWindow => None,
                },
            }),
            last_success_at,
            updated_at: run.ended_at.to_string(),
            download_url: config.download_url.clone(),
            workflow_url: config.workflow_url.clone(),
            history,
        }
    }

    pub async fn publish(&self, target: &StatusTarget) -> anyhow::Result<()> {
        let mut body = serde_json::to_vec_pretty(self).expect("a status serialises");
        body.push(b'\n');
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
}

#[cfg(test)]
mod tests;
