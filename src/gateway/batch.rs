//! Turning a request body into a valid batch, or the reasons it is refused.
//!
//! The body is `{"followUps": [row, …]}`; every row must be exactly the exported row of
//! [`crate::row::FollowUp`]: the keys of [`crate::row::schema::COLUMNS`] and no others, each of its
//! column's type (null only where the column is nullable), `createdAt` as
//! `2026-01-22T04:00:00.000000Z`, `followUpId` a lowercase hyphenated uuid, `providerId` and
//! `action` strings (blank ones too: the source's columns allow them), `action` trimmed and
//! lowercase, `platformContext` null or all four of its keys, each a trimmed non-empty string or
//! null. A line may instead be a [`Tombstone`] (a follow-up deleted from the source): exactly
//! `followUpId`, `createdAt` and `deletedAt`, checked as strictly. A batch with any bad line is
//! refused whole.

use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::gateway::error::{ApiError, RowError};
use crate::json::kind_of;
use crate::row::schema::{self, Column, col};
use crate::row::{FollowUp, PlatformContext, Tombstone};
use crate::time::Timestamp;

/// How many bad rows a refusal lists.
pub const REPORTED_ROWS: usize = 10;

/// A batch that passed validation, ready to store.
#[derive(Debug)]
pub struct ValidBatch {
    pub rows: usize,
    /// The rows re-serialised from their parsed form, one per line, in the order received.
    pub ndjson: Vec<u8>,
    /// UTC date of the first row's `createdAt`: the partition the batch lands in.
    pub date: NaiveDate,
}

/// Parses and validates a (decompressed) body.
pub fn parse(body: &[u8]) -> Result<ValidBatch, ApiError> {
    if let Some(batch) = parse_canonical(body) {
        return Ok(batch);
    }
    parse_checked(body)
}

/// The envelope as the exporter writes it: `{"followUps":[` rows joined by `,` `]}`.
const ENVELOPE_START: &[u8] = b"{\"followUps\":[";
const ENVELOPE_END: &[u8] = b"]}";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[serde(rename = "followUps")]
    follow_ups: Vec<FollowUp>,
}

/// The fast path, for a body exactly as the exporter writes it: parsed straight into rows, and
/// accepted only when serialising those rows again gives the body back byte for byte (so every
/// key is there once, in order, with its canonical value) and every row passes
/// [`FollowUp::check_canonical`]. Anything else, valid or not, goes through [`parse_checked`],
/// which says what is wrong.
fn parse_canonical(body: &[u8]) -> Option<ValidBatch> {
    if !body.starts_with(ENVELOPE_START) || !body.ends_with(ENVELOPE_END) {
        return None;
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let rows = envelope.follow_ups;
    let first = rows.first()?;
    let date = first.created_at.to_datetime().date_naive();
    let mut ndjson = Vec::with_capacity(body.len());
    let mut written = &body[ENVELOPE_START.len()..body.len() - ENVELOPE_END.len()];
    for (i, row) in rows.iter().enumerate() {
        row.check_canonical().ok()?;
        let start = ndjson.len();
        serde_json::to_writer(&mut ndjson, row).ok()?;
        let line = &ndjson[start..];
        written = written.strip_prefix(line)?;
        if i + 1 < rows.len() {
            written = written.strip_prefix(b",")?;
        }
        ndjson.push(b'\n');
    }
    written.is_empty().then_some(ValidBatch {
        rows: rows.len(),
        ndjson,
        date,
    })
}

/// The thorough path: every key and value checked, so that a refusal names the row and field.
fn parse_checked(body: &[u8]) -> Result<ValidBatch, ApiError> {
    // A repeated key would otherwise keep its last value silently: refuse it, naming the key.
    let value: Value = crate::json::parse_strict(body).map_err(|e| {
        if e.is_data() {
            ApiError::Invalid {
                message: format!("the batch is refused: {e}; nothing was stored"),
                rows: Vec::new(),
            }
        } else {
            ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
        }
    })?;
    let rows = envelope_rows(value)?;
    let mut parsed = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    let mut bad = 0usize;
    for (index, row) in rows.iter().enumerate() {
        match check_line(row) {
            Ok(follow_up) => parsed.push(follow_up),
            Err(reason) => {
                bad += 1;
                if errors.len() < REPORTED_ROWS {
                    errors.push(RowError { index, reason });
                }
            }
        }
    }
    if bad > 0 {
        let shown = if bad > errors.len() {
            format!("; the first {} are listed", errors.len())
        } else {
            String::new()
        };
        return Err(ApiError::Invalid {
            message: format!(
                "{bad} of {} rows are not valid follow-ups{shown}; nothing was stored",
                rows.len()
            ),
            rows: errors,
        });
    }
    let date = parsed[0].created_at().to_datetime().date_naive();
    let mut ndjson = Vec::with_capacity(body.len());
    for row in &parsed {
        row.write(&mut ndjson)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("serialising a row")))?;
        ndjson.push(b'\n');
    }
    Ok(ValidBatch {
        rows: parsed.len(),
        ndjson,
        date,
    })
}

/// The `followUps` array of `{"followUps": [...]}`, non-empty.
fn envelope_rows(value: Value) -> Result<Vec<Value>, ApiError> {
    let invalid = |message: String| ApiError::Invalid {
        message,
        rows: vec![],
    };
    let Value::Object(mut map) = value else {
        return Err(invalid(format!(
            "the body is {}, not an object {{\"followUps\": [...]}}",
            kind_of(&value)
        )));
    };
    if let Some(key) = map.keys().find(|k| *k != "followUps") {
        return Err(invalid(format!(
            "unknown field `{key}` in the body: it holds only `followUps`"
        )));
    }
    match map.remove("followUps") {
        None => Err(invalid(
            "missing field `followUps`: the body is {\"followUps\": [...]}".into(),
        )),
        Some(Value::Array(rows)) if rows.is_empty() => Err(invalid(
            "`followUps` is empty: a batch carries at least one row".into(),
        )),
        Some(Value::Array(rows)) => Ok(rows),
        Some(other) => Err(invalid(format!(
            "`followUps` is {}, not an array of rows",
            kind_of(&other)
        ))),
    }
}

/// A checked line of a batch.
enum Line {
    Row(Box<FollowUp>),
    Deleted(Tombstone),
}

impl Line {
    fn created_at(&self) -> Timestamp {
        match self {
            Line::Row(row) => row.created_at,
            Line::Deleted(tombstone) => tombstone.created_at,
        }
    }

    fn write(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match self {
            Line::Row(row) => serde_json::to_writer(out, row),
            Line::Deleted(tombstone) => serde_json::to_writer(out, tombstone),
        }
    }
}

/// A row, or a tombstone when it has `deletedAt`.
fn check_line(line: &Value) -> Result<Line, String> {
    match line {
        Value::Object(map) if map.contains_key(Tombstone::KEY) => {
            check_tombstone(map).map(Line::Deleted)
        }
        _ => check_row(line).map(|row| Line::Row(Box::new(row))),
    }
}

/// A tombstone: its three keys and no other, the id a lowercase hyphenated uuid, both times
/// in the exported form.
fn check_tombstone(map: &Map<String, Value>) -> Result<Tombstone, String> {
    check_keys(map, &Tombstone::KEYS, "").map_err(|e| format!("a tombstone: {e}"))?;
    for key in Tombstone::KEYS {
        let checked = if key == "followUpId" {
            typed::<Uuid>(&map[key], false)
        } else {
            typed::<Timestamp>(&map[key], false)
        };
        checked.map_err(|e| format!("a tombstone's `{key}`: {e}"))?;
    }
    let tombstone =
        Tombstone::deserialize(&Value::Object(map.clone())).map_err(|e| e.to_string())?;
    let written = map["followUpId"].as_str().unwrap_or_default();
    if written != tombstone.follow_up_id.hyphenated().to_string() {
        return Err(format!(
            "a tombstone's `followUpId` `{written}` is not written as a lowercase hyphenated \
             uuid ({})",
            tombstone.follow_up_id.hyphenated()
        ));
    }
    Ok(tombstone)
}

/// One row, checked key by key (in the schema's order) so that the reason names the field.
fn check_row(row: &Value) -> Result<FollowUp, String> {
    let Value::Object(map) = row else {
        return Err(format!("the row is {}, not an object", kind_of(row)));
    };
    check_keys(map, &schema::JSON_KEYS, "")?;
    for (index, column) in schema::COLUMNS.iter().enumerate() {
        check_column(index, column, &map[column.json])
            .map_err(|e| format!("`{}`: {e}", column.json))?;
    }
    let follow_up = FollowUp::deserialize(row).map_err(|e| e.to_string())?;

    let written = map["followUpId"].as_str().unwrap_or_default();
    if written != follow_up.follow_up_id.hyphenated().to_string() {
        return Err(format!(
            "`followUpId` `{written}` is not written as a lowercase hyphenated uuid ({})",
            follow_up.follow_up_id.hyphenated()
        ));
    }
    if let Value::Object(context) = &map["platformContext"] {
        check_keys(context, &schema::CONTEXT_KEYS, "platformContext.")?;
    }
    // The values as the exporter writes them: the contract lives beside the exporter's own
    // normalisation, in `crate::row`.
    follow_up.check_canonical()?;
    Ok(follow_up)
}

/// The value of column `index` of [`schema::COLUMNS`] has the column's type, or is null where
/// the column is nullable. Every column is text but the id, the context and the timestamp.
fn check_column(index: usize, column: &Column, value: &Value) -> Result<(), serde_json::Error> {
    match index {
        col::ID => typed::<Uuid>(value, column.nullable),
        col::PLATFORM_CONTEXT => typed::<PlatformContext>(value, column.nullable),
        col::CREATED_AT => typed::<Timestamp>(value, column.nullable),
        _ => typed::<String>(value, column.nullable),
    }
}

fn typed<T: DeserializeOwned>(value: &Value, nullable: bool) -> Result<(), serde_json::Error> {
    if nullable {
        Option::<T>::deserialize(value).map(drop)
    } else {
        T::deserialize(value).map(drop)
    }
}

/// Every key of `expected` present, no other.
fn check_keys(map: &Map<String, Value>, expected: &[&str], path: &str) -> Result<(), String> {
    if let Some(key) = map.keys().find(|k| !expected.contains(&k.as_str())) {
        return Err(format!(
            "unknown field `{path}{key}`, expected only {}",
            expected.join(", ")
        ));
    }
    if let Some(key) = expected.iter().find(|k| !map.contains_key(**k)) {
        return Err(format!("missing field `{path}{key}`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Value {
        json!({
            "followUpId": "0b6f5a2e-6d1c-4a53-9a5e-2f0c8d1e7b11",
            "providerId": "provider-1",
            "providerName": null,
            "action": "pause",
            "notes": null,
            "platformContext": {"id": "ig-1", "label": null, "handle": null, "platformType": "instagram"},
            "conversionCursor": null,
            "conversionHref": null,
            "createdAt": "2026-01-22T23:59:59.999999Z"
        })
    }

    /// `{"followUps":[…]}` exactly as the exporter writes it.
    fn as_exported(rows: &[Value]) -> Vec<u8> {
        let lines: Vec<String> = rows
            .iter()
            .map(|row| {
                let row: FollowUp = serde_json::from_value(row.clone()).unwrap();
                serde_json::to_string(&row).unwrap()
            })
            .collect();
        format!("{{\"followUps\":[{}]}}", lines.join(",")).into_bytes()
    }

    #[test]
    fn the_fast_path_takes_exactly_the_exporters_bytes_and_agrees_with_the_checks() {
        let body = as_exported(&[row(), with("notes", json!("n")), row()]);
        let fast = parse_canonical(&body).expect("the exporter's own body takes the fast path");
        let checked = parse_checked(&body).unwrap();
        assert_eq!(
            (fast.rows, &fast.ndjson, fast.date),
            (checked.rows, &checked.ndjson, checked.date)
        );
        // Valid but not byte for byte the exporter's: whitespace, another key order.
        let spaced = String::from_utf8(body.clone())
            .unwrap()
            .replace("\",\"", "\", \"");
        assert!(parse_canonical(spaced.as_bytes()).is_none());
        assert_eq!(parse(spaced.as_bytes()).unwrap().ndjson, checked.ndjson);
        // Not valid: a missing key, a repeated one, an upper-case id — all left to the checks.
        let text = String::from_utf8(body).unwrap();
        for bad in [
            text.replacen("\"providerName\":null,", "", 1),
            text.replacen("\"notes\":null,", "\"notes\":null,\"notes\":null,", 1),
            text.replacen("0b6f5a2e", "0B6F5A2E", 1),
        ] {
            assert!(parse_canonical(bad.as_bytes()).is_none(), "{bad}");
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    fn reason(row: Value) -> String {
        let body = serde_json::to_vec(&json!({ "followUps": [row] })).unwrap();
        match parse(&body) {
            Err(ApiError::Invalid { rows, .. }) => rows[0].reason.clone(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn with(key: &str, value: Value) -> Value {
        let mut row = row();
        row[key] = value;
        row
    }

    fn tombstone() -> Value {
        json!({
            "followUpId": "0b6f5a2e-6d1c-4a53-9a5e-2f0c8d1e7b12",
            "createdAt": "2026-01-21T10:00:00.000000Z",
            "deletedAt": "2026-02-01T00:00:00.000000Z"
        })
    }

    #[test]
    fn a_tombstone_travels_beside_rows_and_is_checked_as_strictly() {
        let body = serde_json::to_vec(&json!({ "followUps": [tombstone(), row()] })).unwrap();
        let batch = parse(&body).unwrap();
        assert_eq!(batch.rows, 2);
        assert_eq!(
            batch.date.to_string(),
            "2026-01-21",
            "dated by its createdAt"
        );
        let lines: Vec<Value> = batch
            .ndjson
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines, [tombstone(), row()]);
        let mut extra = tombstone();
        extra["notes"] = json!(null);
        let mut missing = tombstone();
        missing.as_object_mut().unwrap().remove("createdAt");
        let mut upper = tombstone();
        upper["followUpId"] = json!("0B6F5A2E-6D1C-4A53-9A5E-2F0C8D1E7B12");
        let mut loose = tombstone();
        loose["deletedAt"] = json!("2026-02-01T00:00:00Z");
        let mut null = tombstone();
        null["deletedAt"] = json!(null);
        for (bad, expected) in [
            (extra, "a tombstone: unknown field `notes`"),
            (missing, "a tombstone: missing field `createdAt`"),
            (upper, "a tombstone's `followUpId`"),
            (loose, "a tombstone's `deletedAt`"),
            (null, "a tombstone's `deletedAt`"),
        ] {
            let reason = reason(bad);
            assert!(reason.starts_with(expected), "{reason}");
        }
        // A row with a `deletedAt` is neither: refused as a tombstone with a row's keys.
        let mut both = row();
        both["deletedAt"] = json!("2026-02-01T00:00:00.000000Z");
        assert!(reason(both).starts_with("a tombstone: unknown field"));
    }

    #[test]
    fn a_valid_row_is_reserialised_and_dated_by_its_utc_day() {
        let body = serde_json::to_vec(&json!({ "followUps": [row()] })).unwrap();
        let batch = parse(&body).unwrap();
        assert_eq!(batch.rows, 1);
        assert_eq!(batch.date.to_string(), "2026-01-22");
        let line: Value =
            serde_json::from_slice(batch.ndjson.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(line, row());
    }

    #[test]
    fn each_bad_field_is_named_in_the_reason() {
        let mut missing = row();
        missing.as_object_mut().unwrap().remove("notes");
        assert_eq!(reason(missing), "missing field `notes`");
        assert!(reason(with("extra", json!(1))).starts_with("unknown field `extra`"));
        assert!(reason(with("providerId", json!(5))).starts_with("`providerId`: invalid type"));
        assert!(reason(with("createdAt", json!("2026-01-22T04:00:00Z"))).contains("createdAt"));
        assert!(
            reason(with(
                "followUpId",
                json!("0B6F5A2E-6D1C-4A53-9A5E-2F0C8D1E7B11")
            ))
            .contains("lowercase hyphenated")
        );
        // Blank values are rows the source can hold: accepted as they are.
        for (key, value) in [("providerId", json!("  ")), ("action", json!(""))] {
            let body = serde_json::to_vec(&json!({ "followUps": [with(key, value)] })).unwrap();
            assert!(parse(&body).is_ok(), "{key} blank");
        }
        assert!(reason(with("action", json!("Pause"))).contains("trimmed and lowercase"));
        assert_eq!(
            reason(with(
                "platformContext",
                json!({"id": "x", "label": null, "handle": null})
            )),
            "missing field `platformContext.platformType`"
        );
        assert!(
            reason(with(
                "platformContext",
                json!({"id": " x", "label": null, "handle": null, "platformType": null})
            ))
            .contains("platformContext.id")
        );
        assert_eq!(reason(json!([1])), "the row is an array, not an object");
    }

    #[test]
    fn only_the_first_bad_rows_are_listed() {
        let rows: Vec<Value> = (0..30)
            .map(|i| if i % 2 == 0 { row() } else { json!(null) })
            .collect();
        let body = serde_json::to_vec(&json!({ "followUps": rows })).unwrap();
        let Err(ApiError::Invalid { message, rows }) = parse(&body) else {
            panic!("expected a refusal");
        };
        assert_eq!(rows.len(), REPORTED_ROWS);
        assert_eq!(rows[0].index, 1);
        assert_eq!(rows[1].index, 3);
        assert!(message.starts_with("15 of 30 rows"), "{message}");
    }
}
