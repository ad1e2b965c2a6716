//! The exporter's status JSON and how it is read: tolerantly, field by field.
//!
//! The exporter publishes `{"cursor", "rows", "updatedAt", "downloadUrl", "workflowUrl"}` (and
//! perhaps more keys, which are ignored). Version 2 adds how the last run ended (`outcome`,
//! `error`), what it left behind (`pendingRows`, `oldestPendingAt`, `heldBack`), `lastSuccessAt` and the
//! last runs (`history`); a status without `outcome` is read as version 1. A field that is missing, null or of the wrong type
//! does not make the whole status unreadable: each field says on its own what it holds, so the
//! card can show what is known and name what is not. Only text that is not a JSON object at all
//! is unreadable.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use url::Url;

pub use crate::outcome::Outcome;

/// One field of the status, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field<T> {
    /// The key is absent.
    Missing,
    /// The key is there with `null`.
    Null,
    Value(T),
    /// The key holds something unusable; `found` describes it for people.
    Invalid {
        found: String,
    },
}

impl<T> Field<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(value) => Some(value),
            _ => None,
        }
    }
}

/// The status as the card uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Where the next run starts: the `createdAt` of the last row delivered. `Null` before the
    /// first export.
    pub cursor: Field<Cursor>,
    /// Rows exported by the last run.
    pub rows: Field<u64>,
    pub updated_at: Field<DateTime<Utc>>,
    pub download_url: Field<Url>,
    pub workflow_url: Field<Url>,
    /// Version 2: how the last run ended. `Missing` in a version 1 status.
    pub outcome: Field<Outcome>,
    /// Version 2: the error line of a run that did not succeed.
    pub error: Field<String>,
    pub pending_rows: Field<u64>,
    pub oldest_pending_at: Field<DateTime<Utc>>,
    /// Version 2: the pending rows the run left for later on purpose; `Null` when none.
    pub held_back: Field<HeldBack>,
    pub last_success_at: Field<DateTime<Utc>>,
    /// Version 2: the last runs, the newest last; entries that cannot be read are left out.
    pub history: Vec<Run>,
}

/// `heldBack`: rows the exporter may not take yet, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    pub rows: u64,
    /// `true`: an open transaction holds them; `false`: the settle window.
    pub open_transaction: bool,
    /// Rows created at or after this wait.
    pub since: Option<DateTime<Utc>>,
    /// The open transaction's server process.
    pub pid: Option<i64>,
}

fn held_back(value: &Value) -> Option<HeldBack> {
    let object = value.as_object()?;
    Some(HeldBack {
        rows: count(object.get("rows")?)?,
        open_transaction: match object.get("reason")?.as_str()? {
            "open-transaction" => true,
            "settle-window" => false,
            _ => return None,
        },
        since: object
            .get("since")
            .and_then(Value::as_str)
            .and_then(timestamp),
        pid: object.get("pid").and_then(Value::as_i64),
    })
}

/// One run of `history`.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub started_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub rows: Option<u64>,
    pub late_rows: Option<u64>,
    pub outcome: Outcome,
}

impl Eq for Run {}

fn run(value: &Value) -> Option<Run> {
    let object = value.as_object()?;
    Some(Run {
        outcome: Outcome::parse(object.get("outcome")?.as_str()?)?,
        started_at: object
            .get("startedAt")
            .and_then(Value::as_str)
            .and_then(timestamp),
        duration_seconds: object
            .get("durationSeconds")
            .and_then(Value::as_f64)
            .filter(|d| d.is_finite() && *d >= 0.0),
        rows: object.get("rows").and_then(count),
        late_rows: object.get("lateRows").and_then(count),
    })
}

/// A cursor timestamp, kept as written (people copy it into `--cursor`) and as an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub text: String,
    pub at: DateTime<Utc>,
}

/// Why a status could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Parses the status document. Fails only when it is not a JSON object.
pub fn parse(bytes: &[u8]) -> Result<Status, Unreadable> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Unreadable("the status is empty".into())
        } else {
            Unreadable(format!("the status is not JSON ({e})"))
        }
    })?;
    let Value::Object(object) = value else {
        return Err(Unreadable(format!(
            "the status is {}, not a JSON object",
            describe(&value)
        )));
    };
    Ok(Status {
        cursor: field(&object, "cursor", |v| {
            let text = v.as_str()?.trim();
            Some(Cursor {
                text: text.to_owned(),
                at: timestamp(text)?,
            })
        }),
        rows: field(&object, "rows", count),
        updated_at: field(&object, "updatedAt", |v| timestamp(v.as_str()?)),
        download_url: field(&object, "downloadUrl", |v| {
            crate::admin::upstream::download_url(v.as_str()?)
        }),
        workflow_url: field(&object, "workflowUrl", |v| {
            crate::admin::upstream::http_url(v.as_str()?)
        }),
        outcome: field(&object, "outcome", |v| Outcome::parse(v.as_str()?)),
        error: field(&object, "error", |v| Some(v.as_str()?.trim().to_owned())),
        pending_rows: field(&object, "pendingRows", count),
        oldest_pending_at: field(&object, "oldestPendingAt", |v| timestamp(v.as_str()?)),
        held_back: field(&object, "heldBack", held_back),
        last_success_at: field(&object, "lastSuccessAt", |v| timestamp(v.as_str()?)),
        history: match object.get("history") {
            Some(Value::Array(runs)) => runs.iter().filter_map(run).collect(),
            _ => Vec::new(),
        },
    })
}

fn field<T>(
    object: &Map<String, Value>,
    key: &str,
    read: impl Fn(&Value) -> Option<T>,
) -> Field<T> {
    match object.get(key) {
        None => Field::Missing,
        Some(Value::Null) => Field::Null,
        // An empty string is how some writers say "none".
        Some(Value::String(s)) if s.trim().is_empty() => Field::Null,
        Some(value) => match read(value) {
            Some(parsed) => Field::Value(parsed),
            None => Field::Invalid {
                found: describe(value),
            },
        },
    }
}

/// A row count: a non-negative whole number, or a string holding one.
fn count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 2f64.powi(53))
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// RFC 3339 with any offset, or an ISO 8601 date-time without one (read as UTC, as the old
/// Python script wrote them).
pub fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

/// A JSON value described for people: `the number 42`, `the text "soon"`, `an array`.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let mut shown: String = s.chars().take(60).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("the text {shown:?}")
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exporters_status_is_read_whole() {
        let status = parse(
            br#"{"cursor": "2026-01-22T04:00:00.000000Z", "rows": 842, "cursorId": "x",
                "updatedAt": "2026-01-22T04:05:09.000000Z", "totalRows": 9000,
                "downloadUrl": "https://exports.example.com/latest.ndjson",
                "workflowUrl": "https://github.com/acme/app/actions/runs/1"}"#,
        )
        .unwrap();
        assert_eq!(
            status.cursor.value().unwrap().text,
            "2026-01-22T04:00:00.000000Z"
        );
        assert_eq!(status.rows, Field::Value(842));
        assert_eq!(
            status.updated_at.value().unwrap().to_rfc3339(),
            "2026-01-22T04:05:09+00:00"
        );
        assert!(status.download_url.value().is_some());
        assert!(status.workflow_url.value().is_some());
    }

    #[test]
    fn a_version_2_status_says_how_the_last_run_ended() {
        let status = parse(
            br#"{"version": 2, "outcome": "failed", "error": "the receiver is down",
                "pendingRows": null, "lastSuccessAt": "2026-01-22T04:05:09.000000Z",
                "history": [
                    {"startedAt": "2026-01-22T04:00:00.000000Z", "durationSeconds": 2.5,
                     "rows": 842, "lateRows": 1, "outcome": "success"},
                    {"outcome": "sideways"}, 7,
                    {"startedAt": "2026-01-22T05:00:00.000000Z", "durationSeconds": 1.0,
                     "rows": 0, "lateRows": 0, "outcome": "failed"}
                ]}"#,
        )
        .unwrap();
        assert_eq!(status.outcome, Field::Value(Outcome::Failed));
        assert_eq!(
            status.error.value().map(String::as_str),
            Some("the receiver is down")
        );
        assert_eq!(status.pending_rows, Field::Null);
        assert_eq!(status.oldest_pending_at, Field::Missing);
        assert!(status.last_success_at.value().is_some());
        let outcomes: Vec<_> = status.history.iter().map(|r| (r.outcome, r.rows)).collect();
        assert_eq!(
            outcomes,
            [(Outcome::Success, Some(842)), (Outcome::Failed, Some(0))]
        );
        assert_eq!(parse(b"{}").unwrap().outcome, Field::Missing);
    }

    #[test]
    fn the_download_may_be_an_s3_object() {
        let status = parse(br#"{"downloadUrl": "s3://exports/guardrail/latest.ndjson"}"#).unwrap();
        assert_eq!(
            status.download_url.value().map(Url::as_str),
            Some("s3://exports/guardrail/latest.ndjson")
        );
        for bad in [
            "s3://exports",
            "s3:///latest.ndjson",
            "ftp://exports/latest.ndjson",
        ] {
            let json = format!(r#"{{"downloadUrl": "{bad}"}}"#);
            let status = parse(json.as_bytes()).unwrap();
            assert!(
                matches!(status.download_url, Field::Invalid { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_runbooks_example_and_python_timestamps_are_accepted() {
        for text in [
            "2026-01-22T04:00:00Z",
            "2026-01-22T04:00:00+00:00",
            "2026-01-22T05:00:00+01:00",
            "2026-01-22T04:00:00.000000",
            "2026-01-22T04:00:00",
        ] {
            assert_eq!(
                timestamp(text).map(|t| t.to_rfc3339()),
                Some("2026-01-22T04:00:00+00:00".into()),
                "{text}"
            );
        }
    }

    #[test]
    fn rows_may_be_a_number_or_a_numeric_string() {
        for (json, expected) in [
            (r#"{"rows": 842}"#, Field::Value(842)),
            (r#"{"rows": "842"}"#, Field::Value(842)),
            (r#"{"rows": 842.0}"#, Field::Value(842)),
            (r#"{"rows": null}"#, Field::Null),
            (r#"{}"#, Field::Missing),
            (
                r#"{"rows": -1}"#,
                Field::Invalid {
                    found: "the number -1".into(),
                },
            ),
            (
                r#"{"rows": "lots"}"#,
                Field::Invalid {
                    found: "the text \"lots\"".into(),
                },
            ),
            (
                r#"{"rows": [1]}"#,
                Field::Invalid {
                    found: "an array".into(),
                },
            ),
        ] {
            assert_eq!(parse(json.as_bytes()).unwrap().rows, expected, "{json}");
        }
    }

    #[test]
    fn wrong_types_make_one_field_invalid_not_the_status() {
        let status = parse(
            br#"{"cursor": 17, "updatedAt": "yesterday", "downloadUrl": "javascript:alert(1)",
                "workflowUrl": {"href": "x"}}"#,
        )
        .unwrap();
        assert!(matches!(status.cursor, Field::Invalid { .. }));
        assert!(matches!(status.updated_at, Field::Invalid { .. }));
        assert!(matches!(status.download_url, Field::Invalid { .. }));
        assert!(matches!(status.workflow_url, Field::Invalid { .. }));
        assert_eq!(status.rows, Field::Missing);
    }

    #[test]
    fn only_a_non_object_is_unreadable() {
        assert_eq!(
            parse(b"[1, 2]").unwrap_err().0,
            "the status is an array, not a JSON object"
        );
        assert!(
            parse(b"<html>")
                .unwrap_err()
                .0
                .starts_with("the status is not JSON")
        );
        assert_eq!(parse(b"  \n").unwrap_err().0, "the status is empty");
    }
}
