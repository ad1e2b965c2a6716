//! The cursor file: version 2 (JSON with the position, its provider binding and the audit's
//! fingerprints) and the legacy formats of the old script, read and written.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{AuditState, CursorState, Fingerprint, Position};
use crate::json::kind_of;
use crate::time::{Timestamp, TimestampError};

/// Why bytes are not a cursor file; each says what is wrong with "it", the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorFileError {
    #[error("it is not UTF-8 text")]
    NotUtf8,
    #[error("it is empty")]
    Empty,
    #[error("it is not valid JSON ({0})")]
    NotJson(String),
    #[error("it does not match the cursor format ({0})")]
    NotTheFormat(String),
    #[error("it has a cursorId without a cursor")]
    IdWithoutCursor,
    #[error("its \"cursor\" is {0}, not a timestamp string")]
    CursorNotText(String),
    #[error("it has no \"cursor\" key")]
    NoCursorKey,
    #[error("it holds {0}, not a cursor")]
    NotACursor(&'static str),
    #[error("its audit bucketSeconds {0} is not between 1 and 86400")]
    BucketSeconds(u64),
    #[error("its audit bucket {0} is not a time between the years 1 and 9999")]
    Bucket(i64),
    #[error("its audit hash `{0}` is not a number")]
    Hash(String),
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
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

/// The audit state in the cursor file: `buckets` are `[bucket, rows, "id hash", "change
/// hash"]`, the hashes decimal strings because they do not fit in a JSON number. Files of
/// earlier versions have `[bucket, rows, "id hash"]`: read, their buckets are unmarked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditFile {
    since: Option<String>,
    since_id: Option<Uuid>,
    bucket_seconds: u64,
    buckets: Vec<BucketFile>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum BucketFile {
    Marked(i64, u64, String, String),
    Unmarked(i64, u64, String),
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
                .map(|(b, f)| {
                    BucketFile::Marked(*b, f.count, f.sum.to_string(), f.changes.to_string())
                })
                .collect(),
        }
    }

    fn into_state(self) -> Result<AuditState, CursorFileError> {
        let since = match self.since {
            Some(ts) => Some(Position {
                created_at: Timestamp::parse(&ts)?,
                id: self.since_id,
            }),
            None => None,
        };
        if self.bucket_seconds == 0 || self.bucket_seconds > 86_400 {
            return Err(CursorFileError::BucketSeconds(self.bucket_seconds));
        }
        let bucket_micros = i64::try_from(self.bucket_seconds * 1_000_000).unwrap_or(i64::MAX);
        let mut buckets = std::collections::BTreeMap::new();
        let mut unmarked = std::collections::BTreeSet::new();
        for entry in self.buckets {
            let (bucket, count, sum, changes) = match entry {
                BucketFile::Marked(bucket, count, sum, changes) => {
                    (bucket, count, sum, Some(changes))
                }
                BucketFile::Unmarked(bucket, count, sum) => {
                    unmarked.insert(bucket);
                    (bucket, count, sum, None)
                }
            };
            // Each bucket starts at an instant the cursor can print (years 1 to 9999).
            if !bucket
                .checked_mul(bucket_micros)
                .is_some_and(Timestamp::is_printable)
            {
                return Err(CursorFileError::Bucket(bucket));
            }
            let hash = |text: String| {
                text.parse::<u64>()
                    .map_err(|_| CursorFileError::Hash(text.clone()))
            };
            let fingerprint = Fingerprint {
                count,
                sum: hash(sum)?,
                changes: changes.map(hash).transpose()?.unwrap_or(0),
            };
            buckets.insert(bucket, fingerprint);
        }
        Ok(AuditState {
            since,
            bucket_seconds: self.bucket_seconds,
            buckets,
            unmarked,
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
pub fn parse(bytes: &[u8]) -> Result<CursorState, CursorFileError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CursorFileError::NotUtf8)?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(CursorFileError::Empty);
    }
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(value) => value,
        // A bare, unquoted timestamp: the oldest legacy format.
        Err(_) if !trimmed.starts_with(['{', '[', '"']) => Value::String(trimmed.to_owned()),
        Err(e) => return Err(CursorFileError::NotJson(e.to_string())),
    };
    match value {
        Value::String(ts) => legacy(Some(&ts)),
        Value::Object(map) if map.contains_key("version") => {
            let file: CursorFile = serde_json::from_value(Value::Object(map))
                .map_err(|e| CursorFileError::NotTheFormat(e.to_string()))?;
            let position = match (file.cursor, file.cursor_id) {
                (Some(ts), id) => Some(Position {
                    created_at: Timestamp::parse(&ts)?,
                    id,
                }),
                (None, None) => None,
                (None, Some(_)) => return Err(CursorFileError::IdWithoutCursor),
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
            Some(other) => Err(CursorFileError::CursorNotText(other.to_string())),
            None => Err(CursorFileError::NoCursorKey),
        },
        other => Err(CursorFileError::NotACursor(kind_of(&other))),
    }
}

fn legacy(ts: Option<&str>) -> Result<CursorState, CursorFileError> {
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
    fn audit_buckets_of_the_version_before_change_markers_are_read_as_unmarked() {
        let earlier = br#"{"cursor": "2026-01-22T04:00:00.000000Z", "cursorId": null, "rows": 1,
            "updatedAt": "2026-01-22T05:00:00.000000Z", "providerId": null, "totalRows": 1,
            "version": 2, "audit": {"since": null, "sinceId": null, "bucketSeconds": 60,
            "buckets": [[29492160, 3, "18446744073709551615"]]}}"#;
        let state = parse(earlier).unwrap();
        let audit = state.audit.clone().unwrap();
        assert_eq!(
            audit.unmarked.iter().copied().collect::<Vec<_>>(),
            [29492160]
        );
        let bucket = audit.buckets[&29492160];
        assert_eq!((bucket.count, bucket.sum, bucket.changes), (3, u64::MAX, 0));
        // The audit takes the source's markers where the rows agree, and the file written
        // after it has all four values.
        let mut audit = audit;
        let source = std::collections::BTreeMap::from([(
            29492160,
            Fingerprint {
                count: 3,
                sum: u64::MAX,
                changes: 77,
            },
        )]);
        audit.adopt_markers(&source);
        assert!(audit.unmarked.is_empty());
        assert_eq!(audit.buckets, source);
        let state = CursorState {
            audit: Some(audit),
            ..state
        };
        let text = render(&state, 0, ts("2026-01-22T06:00:00Z"));
        assert!(text.contains(r#""77""#), "{text}");
        assert_eq!(parse(text.as_bytes()).unwrap().audit, state.audit);
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
            let err = parse(bytes).unwrap_err().to_string();
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
