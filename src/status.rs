//! The status JSON: one type, written by the exporter after every run and read by the ops page
//! and by the next run.
//!
//! Version 2 keeps every field of version 1 (`cursor`, `cursorId`, `rows`, `totalRows`,
//! `lateRows`, `updatedAt`, `downloadUrl`, `workflowUrl`) with its meaning and adds how the run
//! ended (`version`, `outcome`, `error`, `startedAt`, `durationSeconds`), what it left behind
//! (`pendingRows`, `oldestPendingAt`, `heldBack`), `lastSuccessAt` and the last
//! [`HISTORY_RUNS`] runs (`history`). A status without `outcome` is version 1.
//!
//! Reading is lenient, field by field: every field is a [`Field`], which says whether its key
//! was missing, null, usable or holding something else, so a status written by an older
//! exporter or by hand shows what it knows and names what it does not. Keys it does not know
//! are ignored; only text that is not a JSON object is [`Unreadable`]. The key names exist only
//! here: serde derives them from the field names, and messages take them from [`key`].

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use url::Url;

use crate::location::{Location, Place};
pub use crate::outcome::Outcome;

/// The version this exporter writes.
pub const VERSION: u32 = 2;

/// How many runs `history` holds, the newest last.
pub const HISTORY_RUNS: usize = 48;

/// The keys, for messages that name one.
pub mod key {
    pub const ROWS: &str = "rows";
    pub const CURSOR: &str = "cursor";
    pub const UPDATED_AT: &str = "updatedAt";
    pub const DOWNLOAD_URL: &str = "downloadUrl";
    pub const WORKFLOW_URL: &str = "workflowUrl";
    pub const ERROR: &str = "error";
    pub const PENDING_ROWS: &str = "pendingRows";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    pub version: Field<u32>,
    /// How the run ended. `Missing` in a version 1 status.
    pub outcome: Field<Outcome>,
    /// The error line the log printed (scrubbed), when the run did not succeed.
    pub error: Field<String>,
    pub started_at: Field<DateTime<Utc>>,
    pub duration_seconds: Field<f64>,
    /// `createdAt` of the last row delivered: the next run starts after it. `Null` before the
    /// first export.
    pub cursor: Field<Cursor>,
    pub cursor_id: Field<String>,
    /// Rows delivered by the run (0 when a failed run does not know).
    pub rows: Field<u64>,
    pub total_rows: Field<u64>,
    /// Late rows the audit found behind the cursor in the run (and delivered).
    pub late_rows: Field<u64>,
    /// Rows still after the cursor once the run ended, whatever holds them; `Null` when not
    /// counted (a run that failed, or a count that did not answer in time).
    pub pending_rows: Field<u64>,
    /// `createdAt` of the oldest of them.
    pub oldest_pending_at: Field<DateTime<Utc>>,
    /// The pending rows the run left for later on purpose; `Null` when none (or not counted).
    pub held_back: Field<HeldBack>,
    /// When the last successful run ended: this one, or as the previous status said.
    pub last_success_at: Field<DateTime<Utc>>,
    pub updated_at: Field<DateTime<Utc>>,
    /// The newest run's rows: a file, an `s3://` object or an http(s) URL.
    pub download_url: Field<Location>,
    pub workflow_url: Field<HttpUrl>,
    /// The last [`HISTORY_RUNS`] runs, the newest last; entries that cannot be read are left
    /// out.
    #[serde(deserialize_with = "runs")]
    pub history: Vec<Run>,
}

/// Why a status could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

impl Status {
    /// Reads a status document. Fails only when it is not a JSON object.
    pub fn parse(bytes: &[u8]) -> Result<Status, Unreadable> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                Unreadable("the status is empty".into())
            } else {
                Unreadable(format!("the status is not JSON ({e})"))
            }
        })?;
        if !value.is_object() {
            return Err(Unreadable(format!(
                "the status is {}, not a JSON object",
                describe(&value)
            )));
        }
        // Every field reads leniently, so an object always gives a status.
        Status::deserialize(value).map_err(|e| Unreadable(format!("the status is unusable ({e})")))
    }

    /// The document as the exporter writes it: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = serde_json::to_vec_pretty(self).expect("a status serialises");
        body.push(b'\n');
        body
    }
}

/// One field of the status, as found.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    /// The key is absent.
    #[default]
    Missing,
    /// The key is there with `null` (or an empty string, which is how some writers say none).
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

impl<T> From<Option<T>> for Field<T> {
    /// What the exporter writes: the value, or `null`.
    fn from(value: Option<T>) -> Self {
        value.map_or(Field::Null, Field::Value)
    }
}

impl<T: Lenient> Field<T> {
    /// Why the field gives no value, naming its `key`: `the status has no rows`, `updatedAt
    /// is the text "soon", not a timestamp`. `None` when it has one.
    pub fn problem(&self, key: &str) -> Option<String> {
        match self {
            Field::Missing => Some(format!("the status has no {key}")),
            Field::Null => Some(format!("the status gives {key}: null")),
            Field::Invalid { found } => Some(format!("{key} is {found}, not {}", T::EXPECTED)),
            Field::Value(_) => None,
        }
    }
}

/// A value a status field holds: read from any JSON that means it, written one way.
pub trait Lenient: Sized {
    /// What the field should hold, for messages: "a number".
    const EXPECTED: &'static str;
    fn read(value: &Value) -> Option<Self>;
    fn write(&self) -> Value;
}

impl<T: Lenient> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(value) => value.write().serialize(serializer),
            _ => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Lenient> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Field::Null,
            Value::String(s) if s.trim().is_empty() => Field::Null,
            value => match T::read(&value) {
                Some(parsed) => Field::Value(parsed),
                None => Field::Invalid {
                    found: describe(&value),
                },
            },
        })
    }
}

/// A row count: a non-negative whole number, or a string holding one.
impl Lenient for u64 {
    const EXPECTED: &'static str = "a number";
    fn read(value: &Value) -> Option<u64> {
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
    fn write(&self) -> Value {
        json!(self)
    }
}

impl Lenient for u32 {
    const EXPECTED: &'static str = "a number";
    fn read(value: &Value) -> Option<u32> {
        u64::read(value).and_then(|n| n.try_into().ok())
    }
    fn write(&self) -> Value {
        json!(self)
    }
}

/// Seconds: a finite, non-negative number.
impl Lenient for f64 {
    const EXPECTED: &'static str = "a number of seconds";
    fn read(value: &Value) -> Option<f64> {
        value.as_f64().filter(|d| d.is_finite() && *d >= 0.0)
    }
    fn write(&self) -> Value {
        json!(self)
    }
}

impl Lenient for String {
    const EXPECTED: &'static str = "text";
    fn read(value: &Value) -> Option<String> {
        Some(value.as_str()?.trim().to_owned())
    }
    fn write(&self) -> Value {
        json!(self)
    }
}

/// An instant: written as the exporter writes `createdAt`, read by [`timestamp`].
impl Lenient for DateTime<Utc> {
    const EXPECTED: &'static str = "a timestamp";
    fn read(value: &Value) -> Option<DateTime<Utc>> {
        timestamp(value.as_str()?)
    }
    fn write(&self) -> Value {
        json!(self.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

impl Lenient for Outcome {
    const EXPECTED: &'static str = "success, failed or interrupted";
    fn read(value: &Value) -> Option<Outcome> {
        Outcome::parse(value.as_str()?)
    }
    fn write(&self) -> Value {
        json!(self.label())
    }
}

/// A cursor timestamp, kept as written (people copy it into `--cursor`) and as an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub text: String,
    pub at: DateTime<Utc>,
}

impl Cursor {
    pub fn at(at: DateTime<Utc>) -> Cursor {
        Cursor {
            text: at.to_rfc3339_opts(SecondsFormat::Micros, true),
            at,
        }
    }
}

impl Lenient for Cursor {
    const EXPECTED: &'static str = "a timestamp";
    fn read(value: &Value) -> Option<Cursor> {
        let text = value.as_str()?.trim();
        Some(Cursor {
            text: text.to_owned(),
            at: timestamp(text)?,
        })
    }
    fn write(&self) -> Value {
        json!(self.text)
    }
}

/// `downloadUrl`: any place a file can be read from ([`Place::READABLE_FILE`]); a path only
/// when absolute, since the reader does not share the writer's working directory.
impl Lenient for Location {
    const EXPECTED: &'static str = "an absolute file path, an s3://bucket/key or an http(s) URL";
    fn read(value: &Value) -> Option<Location> {
        Location::parse(value.as_str()?, Place::READABLE_FILE)
            .ok()
            .filter(|l| !matches!(l, Location::Local(path) if path.is_relative()))
    }
    fn write(&self) -> Value {
        json!(self.to_string())
    }
}

/// An absolute http(s) URL with a host: `workflowUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(pub Url);

impl HttpUrl {
    pub fn parse(text: &str) -> Option<HttpUrl> {
        Url::parse(text.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .map(HttpUrl)
    }
}

impl Lenient for HttpUrl {
    const EXPECTED: &'static str = "an http(s) URL";
    fn read(value: &Value) -> Option<HttpUrl> {
        HttpUrl::parse(value.as_str()?)
    }
    fn write(&self) -> Value {
        json!(self.0.as_str())
    }
}

/// Why pending rows were left for later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldBackReason {
    /// Rows younger than `--settle-seconds`.
    SettleWindow,
    /// Rows an open transaction may still commit before.
    OpenTransaction,
}

impl HeldBackReason {
    pub fn label(self) -> &'static str {
        match self {
            HeldBackReason::SettleWindow => "settle-window",
            HeldBackReason::OpenTransaction => "open-transaction",
        }
    }
}

/// `heldBack`: rows a run may not take yet, why, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    pub rows: u64,
    pub reason: HeldBackReason,
    /// Rows created at or after this instant wait: the settle window's bound, or when the
    /// oldest open transaction began.
    pub since: Option<DateTime<Utc>>,
    /// The open transaction's server process, for `pg_stat_activity`.
    pub pid: Option<i64>,
}

impl Lenient for HeldBack {
    const EXPECTED: &'static str = "an object with rows and reason";
    fn read(value: &Value) -> Option<HeldBack> {
        let object = value.as_object()?;
        let reason = object.get("reason")?.as_str()?;
        Some(HeldBack {
            rows: u64::read(object.get("rows")?)?,
            reason: [
                HeldBackReason::SettleWindow,
                HeldBackReason::OpenTransaction,
            ]
            .into_iter()
            .find(|r| r.label() == reason)?,
            since: object.get("since").and_then(DateTime::<Utc>::read),
            pid: object.get("pid").and_then(Value::as_i64),
        })
    }
    fn write(&self) -> Value {
        let mut object = json!({
            "rows": self.rows,
            "reason": self.reason.label(),
            "since": self.since.as_ref().map(Lenient::write),
        });
        if let Some(pid) = self.pid {
            object["pid"] = json!(pid);
        }
        object
    }
}

/// One run in `history`.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub started_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub rows: Option<u64>,
    pub late_rows: Option<u64>,
    pub outcome: Outcome,
}

impl Eq for Run {}

impl Lenient for Run {
    const EXPECTED: &'static str = "a run";
    fn read(value: &Value) -> Option<Run> {
        let object = value.as_object()?;
        Some(Run {
            outcome: Outcome::read(object.get("outcome")?)?,
            started_at: object.get("startedAt").and_then(DateTime::<Utc>::read),
            duration_seconds: object.get("durationSeconds").and_then(f64::read),
            rows: object.get("rows").and_then(u64::read),
            late_rows: object.get("lateRows").and_then(u64::read),
        })
    }
    fn write(&self) -> Value {
        json!({
            "startedAt": self.started_at.as_ref().map(Lenient::write),
            "durationSeconds": self.duration_seconds,
            "rows": self.rows,
            "lateRows": self.late_rows,
            "outcome": self.outcome.label(),
        })
    }
}

impl Serialize for Run {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.write().serialize(serializer)
    }
}

fn runs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Run>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(runs) => runs.iter().filter_map(Run::read).collect(),
        _ => Vec::new(),
    })
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
mod tests;
