//! The cursor: how far the feed has been delivered, its file format (with the legacy formats of
//! the old script), and the stores that keep it between runs.
//!
//! A store is opened once per run, which takes its lock; it is then saved after every batch the
//! sink acknowledged, so it never claims more than was delivered.

mod file;
mod s3;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::Error;
use crate::export::audit::{AuditState, Fingerprint};
use crate::s3::{S3Options, S3Uri};
use crate::time::Timestamp;

pub use file::{FileStore, lock_path};
pub use s3::S3Store;

/// The position after which the next run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub created_at: Timestamp,
    /// The id of the last row delivered. `None` for a timestamp alone (a legacy cursor or
    /// `--cursor TS`): it cannot tell which rows at that instant were delivered, so the next run
    /// starts *at* the timestamp and rows of that instant are sent again (the warehouse MERGE
    /// absorbs them). With an id the next run starts strictly after `(created_at, id)`.
    pub id: Option<Uuid>,
}

/// `TS/UUID`, or `TS` alone: the form `--cursor` and `cursor set` take.
impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id {
            Some(id) => write!(f, "{}/{id}", self.created_at),
            None => write!(f, "{}", self.created_at),
        }
    }
}

impl Position {
    /// Parses `TS` or `TS/UUID` (the form `cursor show` prints).
    pub fn parse(text: &str) -> Result<Position, String> {
        let (ts, id) = match text.trim().split_once('/') {
            Some((ts, id)) => {
                let id = Uuid::parse_str(id.trim())
                    .map_err(|_| format!("`{id}` after the `/` is not a follow-up id (a uuid)"))?;
                (ts, Some(id))
            }
            None => (text, None),
        };
        Ok(Position {
            created_at: Timestamp::parse(ts)?,
            id,
        })
    }
}

/// What a cursor store holds between runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CursorState {
    /// `None` until the first row is delivered: the next run starts from the beginning.
    pub position: Option<Position>,
    /// The `--provider-id` this cursor belongs to (`None`: all providers). `None` also for
    /// legacy files, which carry no binding.
    pub provider_id: Option<String>,
    /// Rows delivered by all runs recorded in this cursor.
    pub total_rows: u64,
    /// Whether the state came from a legacy file without a provider binding.
    pub legacy: bool,
    /// Fingerprints of what was delivered over the audit window (`None`: no audit yet, as in
    /// legacy files and files of runs without the audit).
    pub audit: Option<AuditState>,
}

/// The cursor file, version 2. `cursor`, `rows` and `updatedAt` keep the meaning readers of the
/// old `{cursor, rows, updatedAt}` file expect; the rest is what exactness needs.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CursorFile {
    /// `createdAt` of the last row delivered, or null before any.
    cursor: Option<String>,
    /// `followUpId` of the last row delivered.
    cursor_id: Option<Uuid>,
    /// Rows delivered by the run that wrote this file.
    rows: u64,
    updated_at: String,
    provider_id: Option<String>,
    total_rows: u64,
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audit: Option<AuditFile>,
}

/// The audit state in the cursor file: `buckets` are `[bucket, rows, "id hash"]`, the hash a
/// decimal string because it does not fit in a JSON number.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditFile {
    since: Option<String>,
    since_id: Option<Uuid>,
    bucket_seconds: u64,
    buckets: Vec<(i64, u64, String)>,
}

impl AuditFile {
    fn of(state: &AuditState) -> AuditFile {
        AuditFile {
            since: state.since.map(|p| p.created_at.to_string()),
            since_id: state.since.and_then(|p| p.id),
            bucket_seconds: state.bucket_seconds,
            buckets: state
                .buckets
                .iter()
                .map(|(b, f)| (*b, f.count, f.sum.to_string()))
                .collect(),
        }
    }

    fn into_state(self) -> Result<AuditState, String> {
        let since = match self.since {
            Some(ts) => Some(Position {
                created_at: Timestamp::parse(&ts)?,
                id: self.since_id,
            }),
            None => None,
        };
        if self.bucket_seconds == 0 || self.bucket_seconds > 86_400 {
            return Err(format!(
                "its audit bucketSeconds {} is not between 1 and 86400",
                self.bucket_seconds
            ));
        }
        let bucket_micros = i64::try_from(self.bucket_seconds * 1_000_000).unwrap_or(i64::MAX);
        let mut buckets = std::collections::BTreeMap::new();
        for (bucket, count, sum) in self.buckets {
            // Each bucket starts at an instant the cursor can print (years 1 to 9999).
            if !bucket
                .checked_mul(bucket_micros)
                .is_some_and(Timestamp::is_printable)
            {
                return Err(format!(
                    "its audit bucket {bucket} is not a time between the years 1 and 9999"
                ));
            }
            let sum = sum
                .parse::<u64>()
                .map_err(|_| format!("its audit hash `{sum}` is not a number"))?;
            buckets.insert(bucket, Fingerprint { count, sum });
        }
        Ok(AuditState {
            since,
            bucket_seconds: self.bucket_seconds,
            buckets,
        })
    }
}

/// Renders the state as cursor-file JSON (pretty, with a trailing newline).
pub fn render(state: &CursorState, run_rows: u64, updated_at: Timestamp) -> String {
    let file = CursorFile {
        cursor: state.position.map(|p| p.created_at.to_string()),
        cursor_id: state.position.and_then(|p| p.id),
        rows: run_rows,
        updated_at: updated_at.to_string(),
        provider_id: state.provider_id.clone(),
        total_rows: state.total_rows,
        version: 2,
        audit: state.audit.as_ref().map(AuditFile::of),
    };
    let mut text = serde_json::to_string_pretty(&file).expect("cursor serialises");
    text.push('\n');
    text
}

/// Parses cursor-file bytes: the current format, the old script's `{"cursor": "…+00:00", …}`
/// object, or a bare timestamp (quoted or not). Returns the reason when it is none of them.
pub fn parse(bytes: &[u8]) -> Result<CursorState, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("it is empty".into());
    }
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(value) => value,
        // A bare, unquoted timestamp: the oldest legacy format.
        Err(_) if !trimmed.starts_with(['{', '[', '"']) => Value::String(trimmed.to_owned()),
        Err(e) => return Err(format!("it is not valid JSON ({e})")),
    };
    match value {
        Value::String(ts) => legacy(Some(&ts)),
        Value::Object(map) if map.contains_key("version") => {
            let file: CursorFile = serde_json::from_value(Value::Object(map))
                .map_err(|e| format!("it does not match the cursor format ({e})"))?;
            let position = match (file.cursor, file.cursor_id) {
                (Some(ts), id) => Some(Position {
                    created_at: Timestamp::parse(&ts)?,
                    id,
                }),
                (None, None) => None,
                (None, Some(_)) => return Err("it has a cursorId without a cursor".into()),
            };
            let audit = file.audit.map(AuditFile::into_state).transpose()?;
            Ok(CursorState {
                position,
                provider_id: file.provider_id,
                total_rows: file.total_rows,
                legacy: false,
                audit,
            })
        }
        Value::Object(map) => match map.get("cursor") {
            Some(Value::String(ts)) => legacy(Some(ts)),
            Some(Value::Null) => legacy(None),
            Some(other) => Err(format!("its \"cursor\" is {other}, not a timestamp string")),
            None => Err("it has no \"cursor\" key".into()),
        },
        other => Err(format!("it holds {}, not a cursor", kind_of(&other))),
    }
}

fn legacy(ts: Option<&str>) -> Result<CursorState, String> {
    let position = match ts {
        Some(ts) => Some(Position {
            created_at: Timestamp::parse(ts)?,
            id: None,
        }),
        None => None,
    };
    Ok(CursorState {
        position,
        provider_id: None,
        total_rows: 0,
        legacy: true,
        audit: None,
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where the cursor lives, as configured.
#[derive(Debug, Clone)]
pub enum CursorStoreConfig {
    None,
    File(PathBuf),
    S3 {
        uri: S3Uri,
        options: S3Options,
        /// How long the lease lasts without renewal.
        lease: std::time::Duration,
    },
}

/// Removes a lock left by a run that is gone; says what was done.
pub async fn unlock(config: &CursorStoreConfig, force: bool) -> Result<String, Error> {
    match config {
        CursorStoreConfig::None => Ok("no cursor store: nothing to unlock".into()),
        CursorStoreConfig::File(path) => Ok(format!(
            "{} is locked by the running process only, and the kernel releases the lock when \
             that process ends (even on a crash): nothing to unlock",
            path.display()
        )),
        CursorStoreConfig::S3 { uri, options, .. } => s3::unlock(uri, options, force).await,
    }
}

/// Where the cursor lives between runs. Opening a store takes its lock; [`CursorStore::close`]
/// releases it (a file lock is also released when the process ends; an S3 lease expires).
#[derive(Debug)]
pub enum CursorStore {
    /// Nothing is kept: every run starts from `--cursor` or the beginning.
    None,
    File(FileStore),
    S3(Box<S3Store>),
}

impl CursorStore {
    /// Opens the store and takes its lock, failing with [`Error::Locked`] when another
    /// run holds it.
    pub async fn open(config: &CursorStoreConfig) -> Result<CursorStore, Error> {
        Ok(match config {
            CursorStoreConfig::None => CursorStore::None,
            CursorStoreConfig::File(path) => CursorStore::File(FileStore::open(path)?),
            CursorStoreConfig::S3 {
                uri,
                options,
                lease,
            } => CursorStore::S3(Box::new(S3Store::open(uri, options, *lease).await?)),
        })
    }

    /// Reads the stored state (`None` when nothing is stored yet).
    pub async fn load(&mut self) -> Result<Option<CursorState>, Error> {
        match self {
            CursorStore::None => Ok(None),
            CursorStore::File(store) => store.load(),
            CursorStore::S3(store) => store.load().await,
        }
    }

    /// Stores the state after `run_rows` rows were delivered in this run.
    pub async fn save(&mut self, state: &CursorState, run_rows: u64) -> Result<(), Error> {
        match self {
            CursorStore::None => Ok(()),
            CursorStore::File(store) => store.save(state, run_rows),
            CursorStore::S3(store) => store.save(state, run_rows).await,
        }
    }

    /// Reads the stored state and its raw text without taking the lock, for inspection while
    /// an export may be running.
    pub async fn peek(config: &CursorStoreConfig) -> Result<Option<(CursorState, String)>, Error> {
        let (bytes, name) = match config {
            CursorStoreConfig::None => return Ok(None),
            CursorStoreConfig::File(path) => match std::fs::read(path) {
                Ok(bytes) => (bytes, path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(Error::config(format!(
                        "cannot read the cursor file {}: {e}",
                        path.display()
                    )));
                }
            },
            CursorStoreConfig::S3 { uri, options, .. } => match s3::read(uri, options).await? {
                Some(bytes) => (bytes.to_vec(), uri.to_string()),
                None => return Ok(None),
            },
        };
        let state = parse(&bytes).map_err(|reason| Error::CorruptCursor { path: name, reason })?;
        Ok(Some((
            state,
            String::from_utf8_lossy(&bytes).trim().to_owned(),
        )))
    }

    /// Fails when the lock can no longer be trusted (an S3 lease that could not be renewed):
    /// the run must not deliver anything more.
    pub async fn healthy(&self) -> Result<(), Error> {
        match self {
            CursorStore::S3(store) => store.healthy().await,
            _ => Ok(()),
        }
    }

    /// Releases the lock.
    pub async fn close(self) {
        if let CursorStore::S3(store) = self {
            (*store).release().await;
        }
    }

    /// A short description for messages: where the cursor lives.
    pub fn describe(&self) -> String {
        match self {
            CursorStore::None => "no cursor store".into(),
            CursorStore::File(store) => store.path().display().to_string(),
            CursorStore::S3(store) => store.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[test]
    fn the_current_format_round_trips() {
        let state = CursorState {
            position: Some(Position {
                created_at: ts("2026-01-22T04:00:00.123456Z"),
                id: Some("0b6f5a2e-6d1c-4a53-9a5e-2f0c8d1e7b11".parse().unwrap()),
            }),
            provider_id: Some("provider-123".into()),
            total_rows: 900,
            legacy: false,
            audit: None,
        };
        let text = render(&state, 42, ts("2026-01-22T05:00:00Z"));
        assert!(
            text.contains(r#""cursor": "2026-01-22T04:00:00.123456Z""#),
            "{text}"
        );
        assert!(text.contains(r#""rows": 42"#), "{text}");
        assert!(
            text.contains(r#""updatedAt": "2026-01-22T05:00:00.000000Z""#),
            "{text}"
        );
        assert_eq!(parse(text.as_bytes()).unwrap(), state);
    }

    #[test]
    fn the_old_scripts_object_is_read_as_a_timestamp_cursor() {
        let state = parse(br#"{"cursor": "2026-01-22T04:00:00+00:00", "rows": 842, "updatedAt": "2026-01-22T04:05:09+00:00"}"#).unwrap();
        assert_eq!(
            state.position,
            Some(Position {
                created_at: ts("2026-01-22T04:00:00Z"),
                id: None
            })
        );
        assert!(state.legacy);
        assert_eq!(state.provider_id, None);
    }

    #[test]
    fn a_bare_timestamp_file_is_read_quoted_or_not() {
        for text in ["2026-01-22T04:00:00+00:00\n", "\"2026-01-22T04:00:00Z\""] {
            let state = parse(text.as_bytes()).unwrap();
            assert_eq!(
                state.position.unwrap().created_at,
                ts("2026-01-22T04:00:00Z"),
                "{text}"
            );
        }
    }

    #[test]
    fn corrupt_files_say_why() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "empty"),
            (b"{\"cursor\": ", "not valid JSON"),
            (b"[1,2]", "an array"),
            (b"{\"rows\": 3}", "no \"cursor\""),
            (b"{\"cursor\": \"soon\"}", "not a timestamp"),
            (b"\xff\xfe", "not UTF-8"),
        ];
        for (bytes, reason) in cases {
            let err = parse(bytes).unwrap_err();
            assert!(err.contains(reason), "{err} should mention {reason}");
        }
    }

    #[test]
    fn a_position_parses_with_or_without_an_id() {
        let p =
            Position::parse("2026-01-22T04:00:00Z/0b6f5a2e-6d1c-4a53-9a5e-2f0c8d1e7b11").unwrap();
        assert!(p.id.is_some());
        assert_eq!(Position::parse("2026-01-22T04:00:00Z").unwrap().id, None);
        assert!(Position::parse("2026-01-22T04:00:00Z/nope").is_err());
    }
}
