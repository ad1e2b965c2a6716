//! The cursor: how far the feed has been delivered, its file format (with the legacy formats of
//! the old script), and the stores that keep it between runs.
//!
//! A store is opened once per run, which takes its lock; it is then saved after every batch the
//! sink acknowledged, so it never claims more than was delivered.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ExportError;
use crate::row::Timestamp;

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
            Ok(CursorState {
                position,
                provider_id: file.provider_id,
                total_rows: file.total_rows,
                legacy: false,
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

/// Where the cursor lives between runs.
#[derive(Debug)]
pub enum CursorStore {
    /// Nothing is kept: every run starts from `--cursor` or the beginning.
    None,
    File(FileStore),
}

impl CursorStore {
    /// Reads the stored state (`None` when nothing is stored yet).
    pub fn load(&self) -> Result<Option<CursorState>, ExportError> {
        match self {
            CursorStore::None => Ok(None),
            CursorStore::File(store) => store.load(),
        }
    }

    /// Stores the state after `run_rows` rows were delivered in this run.
    pub fn save(&mut self, state: &CursorState, run_rows: u64) -> Result<(), ExportError> {
        match self {
            CursorStore::None => Ok(()),
            CursorStore::File(store) => store.save(state, run_rows),
        }
    }

    /// A short description for messages: where the cursor lives.
    pub fn describe(&self) -> String {
        match self {
            CursorStore::None => "no cursor store".into(),
            CursorStore::File(store) => store.path.display().to_string(),
        }
    }
}

/// A cursor file, locked for the lifetime of the store, written atomically.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    /// Held open for its advisory lock; released when the store is dropped.
    _lock: File,
}

impl FileStore {
    /// Takes the lock `<path>.lock` beside the cursor file, failing at once if another run
    /// holds it. The lock file itself is left in place: removing it would let two runs lock
    /// two different files.
    pub fn open(path: &Path) -> Result<FileStore, ExportError> {
        let lock_path = lock_path(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ExportError::Config {
                message: format!("cannot create the cursor folder {}: {e}", dir.display()),
            })?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| ExportError::Config {
                message: format!("cannot open the cursor lock {}: {e}", lock_path.display()),
            })?;
        match lock.try_lock() {
            Ok(()) => Ok(FileStore {
                path: path.to_owned(),
                _lock: lock,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(ExportError::Locked {
                message: format!(
                    "another export is running on the cursor {} (it holds {}); \
                     wait for it to finish — runs on one cursor never overlap",
                    path.display(),
                    lock_path.display()
                ),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(ExportError::Config {
                message: format!("cannot lock {}: {e}", lock_path.display()),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<Option<CursorState>, ExportError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ExportError::Config {
                    message: format!("cannot read the cursor file {}: {e}", self.path.display()),
                });
            }
        };
        parse(&bytes)
            .map(Some)
            .map_err(|reason| ExportError::CorruptCursor {
                path: self.path.display().to_string(),
                reason,
            })
    }

    fn save(&mut self, state: &CursorState, run_rows: u64) -> Result<(), ExportError> {
        let text = render(state, run_rows, Timestamp::now());
        write_atomically(&self.path, text.as_bytes()).map_err(|e| ExportError::Runtime {
            source: anyhow::anyhow!("cannot write the cursor file {}: {e}", self.path.display()),
        })
    }
}

/// The lock file that guards a cursor file.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees the old file or the new one,
/// never a mix: write a temporary file beside it, fsync, rename over, fsync the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".guardrail-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
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
