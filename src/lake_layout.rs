//! The lake's layout, shared by the gateway that writes it and `reconcile` that reads and
//! repairs it: one NDJSON object per batch at
//! `guardrail_followups/dt=YYYY-MM-DD/<idempotency-key>.ndjson` under the lake's root (a
//! folder, or a bucket and prefix), and objects that hold no follow-ups moved to
//! `guardrail_followups_quarantine/` beside it. The Snowflake stage's URL and PATTERN
//! (`warehouse/snowflake/03_stage.sql`, `04_load.sql`) follow the same layout.

use std::path::PathBuf;

use chrono::NaiveDate;
use object_store::path::Path as ObjectPath;

use crate::location::{Location, Place};

/// The folder (or key prefix) that the Snowflake stage reads.
pub const TABLE_PREFIX: &str = "guardrail_followups";

/// The key of a batch, relative to the lake's root (folder, or bucket prefix): dated by its
/// first row's UTC day, named by its idempotency key.
pub fn batch_key(date: NaiveDate, idempotency_key: &str) -> String {
    format!(
        "{TABLE_PREFIX}/dt={}/{idempotency_key}.ndjson",
        date.format("%Y-%m-%d")
    )
}

/// The date of a key's `dt=` folder, `None` when it has none.
pub fn object_date(key: &str) -> Option<NaiveDate> {
    let dt = key.split('/').find_map(|part| part.strip_prefix("dt="))?;
    NaiveDate::parse_from_str(dt, "%Y-%m-%d").ok()
}

/// Where a quarantined object goes: `guardrail_followups/dt=D/<key>.ndjson` (under the
/// bucket's prefix) becomes `guardrail_followups_quarantine/dt=D/<key>.ndjson.quarantined`
/// beside it. Outside `guardrail_followups/`, so reconcile does not read it, and not ending in
/// `.ndjson`, so the warehouse stage's PATTERN does not load it.
pub fn quarantine_key(root: &ObjectPath, location: &ObjectPath) -> ObjectPath {
    let rest = location
        .as_ref()
        .strip_prefix(root.as_ref())
        .unwrap_or(location.as_ref())
        .trim_start_matches('/');
    let root = root.as_ref();
    let parent = root.strip_suffix(TABLE_PREFIX).unwrap_or("");
    ObjectPath::from(format!(
        "{parent}{QUARANTINE_PREFIX}/{rest}{QUARANTINE_SUFFIX}"
    ))
}

/// The folder quarantined objects go to, beside `guardrail_followups/`.
pub const QUARANTINE_PREFIX: &str = "guardrail_followups_quarantine";

/// Appended to a quarantined object's name.
pub const QUARANTINE_SUFFIX: &str = ".quarantined";

/// Where the lake is, as given by `--lake`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUri {
    /// A folder: a plain path or `file:///path`.
    Local(PathBuf),
    /// `s3://bucket/prefix`; the prefix may be empty.
    S3 { bucket: String, prefix: String },
}

impl LakeUri {
    /// A folder (a path or `file:///path`) or `s3://bucket/prefix`.
    pub fn parse(text: &str) -> Result<LakeUri, String> {
        Ok(match Location::parse(text, Place::FOLDER_OR_PREFIX)? {
            Location::Local(root) => LakeUri::Local(root),
            Location::S3(uri) => LakeUri::S3 {
                bucket: uri.bucket,
                prefix: uri.key,
            },
            Location::Http(_) => unreachable!("FOLDER_OR_PREFIX takes no http URL"),
        })
    }
}
