//! The card's facts, one line each, and the formatting of numbers and durations.

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use super::*;
use crate::location::Location;
use crate::status::{Field, HttpUrl, Lenient, Status, key};

pub(super) fn unknown_because(reason: String) -> Fact {
    Fact {
        value: "unknown".into(),
        detail: Some(reason),
        known: false,
        datetime: None,
    }
}

pub(super) fn field_problem<T: Lenient>(field: &Field<T>, key: &str) -> String {
    field.problem(key).unwrap_or_default()
}

pub(super) fn rows_fact(rows: &Field<u64>) -> Fact {
    match rows {
        Field::Value(n) => Fact {
            value: thousands(*n),
            detail: Some("in the last run".into()),
            known: true,
            datetime: None,
        },
        other => unknown_because(field_problem(other, key::ROWS)),
    }
}

pub(super) fn cursor_fact(status: &Status) -> Fact {
    match &status.cursor {
        Field::Value(cursor) => Fact {
            value: cursor.text.clone(),
            detail: Some("the next run exports rows created after this".into()),
            known: true,
            datetime: Some(cursor.at.to_rfc3339()),
        },
        Field::Null => Fact {
            value: "none yet".into(),
            detail: Some("nothing exported so far: the next run starts from the beginning".into()),
            known: true,
            datetime: None,
        },
        other => unknown_because(field_problem(other, key::CURSOR)),
    }
}

pub(super) fn updated_fact(updated: &Field<DateTime<Utc>>, now: DateTime<Utc>) -> Fact {
    match updated {
        Field::Value(at) => {
            let detail = match (now - *at).to_std() {
                Ok(age) if age < Duration::from_secs(60) => "less than a minute ago".into(),
                Ok(age) => format!("{} ago", duration(age)),
                Err(_) => format!(
                    "{} in the future: this server's clock and the exporter's disagree",
                    duration((*at - now).to_std().unwrap_or_default())
                ),
            };
            Fact {
                value: at.format("%Y-%m-%d %H:%M UTC").to_string(),
                detail: Some(detail),
                known: true,
                datetime: Some(at.to_rfc3339()),
            }
        }
        other => unknown_because(field_problem(other, key::UPDATED_AT)),
    }
}

pub(super) fn download(
    url: &Field<Location>,
    archive_dir: Option<&std::path::Path>,
) -> Result<(), String> {
    match url {
        Field::Value(Location::Local(path)) => match archive_dir {
            None => Err(format!(
                "Download unavailable: the last export's file is {} on the exporter's machine; \
                 set {} to its archive folder to serve it here.",
                path.display(),
                env::ADMIN_ARCHIVE_DIR
            )),
            Some(dir) if !path.starts_with(dir) => Err(format!(
                "Download unavailable: the last export's file {} is not inside the archive \
                 folder {}.",
                path.display(),
                dir.display()
            )),
            Some(_) => Ok(()),
        },
        Field::Value(_) => Ok(()),
        Field::Null => Err("Download unavailable: the last export published no file.".into()),
        other => Err(format!(
            "Download unavailable: {}.",
            field_problem(other, key::DOWNLOAD_URL)
        )),
    }
}

pub(super) fn workflow(url: &Field<HttpUrl>, overridden: Option<&Url>) -> Result<Url, String> {
    if let Some(url) = overridden {
        return Ok(url.clone());
    }
    match url {
        Field::Value(url) => Ok(url.0.clone()),
        other => Err(format!(
            "No workflow link: {}; set {} to show one.",
            field_problem(other, key::WORKFLOW_URL),
            env::WORKFLOW_URL
        )),
    }
}

/// `2 h 5 min`, `3 days 4 h`, `45 s`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, minutes) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (1, 0, _) => "1 day".into(),
        (1, h, _) => format!("1 day {h} h"),
        (d, 0, _) => format!("{d} days"),
        (d, h, _) => format!("{d} days {h} h"),
    }
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
