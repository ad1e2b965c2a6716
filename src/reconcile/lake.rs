//! The lake side of a reconcile: one streaming pass over the objects under
//! `guardrail_followups/` (a folder or an S3 prefix, read through `object_store` as the
//! gateway's S3 lake writes them), each row's `followUpId` and `createdAt` taken to the
//! bounded [`DistinctDays`].
//!
//! An object's `dt=` folder is its batch's first row's day, and the exporter sends rows in
//! `(created_at, id)` order, so an object holds no row of a day before its `dt=`: objects
//! dated after `--until` are not read. A batch can reach into later days, so every object
//! dated up to `--until` is read, and its rows are grouped by their own `createdAt` day.

use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Deserialize;
use uuid::Uuid;

use super::distinct::DistinctDays;
use super::progress::Progress;
use super::{Range, day_of};
use crate::error::{Error, Hint};
use crate::gateway::lake::{LakeUri, TABLE_PREFIX};
use crate::s3::S3Options;
use crate::time::Timestamp;

/// Objects fetched at once (S3 round trips overlap; memory is this many objects).
const FETCHES: usize = 8;

/// What one pass over the lake read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LakeTotals {
    /// Objects read.
    pub objects: u64,
    /// Rows in the range, duplicates included.
    pub rows: u64,
}

/// A lake opened for reading.
pub struct LakeReader {
    store: Arc<dyn ObjectStore>,
    /// `guardrail_followups`, under the bucket's prefix for S3.
    root: ObjectPath,
    description: String,
}

#[derive(Deserialize)]
struct LakeRow<'a> {
    #[serde(rename = "followUpId")]
    id: Uuid,
    #[serde(rename = "createdAt", borrow)]
    created_at: &'a str,
}

impl LakeReader {
    /// Opens the lake `uri` names; a folder that does not exist is a configuration error.
    pub fn open(uri: &LakeUri, options: &S3Options) -> Result<LakeReader, Error> {
        match uri {
            LakeUri::Local(folder) => {
                if !folder.is_dir() {
                    return Err(Error::config_fix(
                        format!("the lake folder {} does not exist", folder.display()),
                        "give --lake the folder the gateway writes to (its --lake), or s3://bucket/prefix",
                    ));
                }
                let store = LocalFileSystem::new_with_prefix(folder).map_err(|e| {
                    Error::config_fix(
                        format!("the lake folder {} cannot be opened: {e}", folder.display()),
                        "check that this user may read it",
                    )
                })?;
                Ok(LakeReader {
                    store: Arc::new(store),
                    root: ObjectPath::from(TABLE_PREFIX),
                    description: folder.display().to_string(),
                })
            }
            LakeUri::S3 { bucket, prefix } => {
                let store = crate::s3::open_bucket(bucket, options).map_err(|e| {
                    Error::config_fix(
                        format!("cannot set up S3 access to s3://{bucket}: {e:#}"),
                        "check --s3-endpoint, --s3-region and the credentials",
                    )
                })?;
                let root = match prefix.as_str() {
                    "" => ObjectPath::from(TABLE_PREFIX),
                    prefix => ObjectPath::from(format!("{prefix}/{TABLE_PREFIX}")),
                };
                let description = match &options.endpoint {
                    Some(endpoint) => format!("s3://{bucket}/{prefix} at {endpoint}"),
                    None => format!("s3://{bucket}/{prefix}"),
                };
                Ok(LakeReader {
                    store,
                    root,
                    description,
                })
            }
        }
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Reads every object that can hold rows of `range`, each row in it pushed to `distinct`.
    pub async fn read(
        &self,
        range: &Range,
        distinct: &mut DistinctDays,
        progress: &Progress,
    ) -> Result<LakeTotals, Error> {
        let last_day = range.until.map(|until| day_of(until.micros() - 1));
        let mut totals = LakeTotals::default();
        self.each_object(last_day, |location, bytes| {
            let mut rows = 0;
            for row in self.rows(location, bytes) {
                let (id, created_at) = row?;
                if range.contains(created_at) {
                    distinct
                        .push(day_of(created_at.micros()), &id)
                        .map_err(Error::from)?;
                    rows += 1;
                }
            }
            totals.objects += 1;
            totals.rows += rows;
            progress.object(rows);
            Ok(())
        })
        .await?;
        Ok(totals)
    }

    /// Hands every batch object dated up to `last_day` (all of them with `None`) to `each`,
    /// in one pass, [`FETCHES`] objects fetched at once.
    pub(super) async fn each_object(
        &self,
        last_day: Option<i64>,
        mut each: impl FnMut(&ObjectPath, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let objects = self
            .store
            .list(Some(&self.root))
            .map_err(|e| self.list_error(e))
            .try_filter(move |meta| {
                let wanted = object_day(&meta.location)
                    .is_some_and(|day| last_day.is_none_or(|last| day <= last));
                async move { wanted }
            })
            .map_ok(|meta| async move {
                let bytes = async { self.store.get(&meta.location).await?.bytes().await };
                match bytes.await {
                    Ok(bytes) => Ok((meta.location, bytes)),
                    Err(e) => Err(self.read_error(&meta.location, e)),
                }
            })
            .try_buffered(FETCHES);
        futures_util::pin_mut!(objects);
        while let Some((location, bytes)) = objects.try_next().await? {
            each(&location, &bytes)?;
        }
        Ok(())
    }

    /// The `(followUpId, createdAt)` of each row of one object.
    pub(super) fn rows<'a>(
        &'a self,
        location: &'a ObjectPath,
        bytes: &'a [u8],
    ) -> impl Iterator<Item = Result<(Uuid, Timestamp), Error>> + 'a {
        bytes
            .split(|b| *b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(move |(n, line)| {
                let row: LakeRow<'_> = serde_json::from_slice(line)
                    .map_err(|e| self.bad_row(location, n + 1, &e.to_string()))?;
                let created_at = Timestamp::parse(row.created_at)
                    .map_err(|e| self.bad_row(location, n + 1, &format!("createdAt: {e}")))?;
                Ok((row.id, created_at))
            })
    }

    /// Moves the object at `location` to its [`quarantine_key`], out of the reconcile's and
    /// the warehouse stage's reach. On S3 the object is copied first and the original deleted
    /// only once the copy succeeded; a folder renames it. Returns the new key.
    pub(super) async fn quarantine(&self, location: &ObjectPath) -> Result<ObjectPath, Error> {
        let to = quarantine_key(&self.root, location);
        self.store.rename(location, &to).await.map_err(|e| {
            Error::runtime(Hint::new(
                format!(
                    "cannot move the lake object {location} to {to} in {}: {}",
                    self.description,
                    crate::redact::error_chain(&e)
                ),
                "--repair needs write access to the lake: s3:GetObject, s3:PutObject and \
                 s3:DeleteObject on the prefix, or write permission on the folder; grant it \
                 and rerun --repair. This object stays in place (it is deleted only once its \
                 copy exists); objects moved before it are in the quarantine, and the rerun \
                 delivers their other rows again",
            ))
        })?;
        Ok(to)
    }

    fn list_error(&self, e: object_store::Error) -> Error {
        Error::runtime(Hint::new(
            format!(
                "cannot list the lake {} under {}: {}",
                self.description,
                self.root,
                crate::redact::error_chain(&e)
            ),
            "check that the lake exists and that these credentials may list it \
             (s3:ListBucket on the bucket, or read access to the folder)",
        ))
    }

    fn read_error(&self, location: &ObjectPath, e: object_store::Error) -> Error {
        Error::runtime(Hint::new(
            format!(
                "cannot read the lake object {location} in {}: {}",
                self.description,
                crate::redact::error_chain(&e)
            ),
            "check that these credentials may read it (s3:GetObject, or the file's \
             permissions), then rerun",
        ))
    }

    fn bad_row(&self, location: &ObjectPath, line: usize, reason: &str) -> Error {
        Error::runtime(Hint::new(
            format!(
                "line {line} of the lake object {location} in {} is not a follow-up row ({reason})",
                self.description
            ),
            "the gateway writes only valid rows, so something else wrote or changed this \
             object: inspect it, move it out of the lake (keep a copy), and rerun",
        ))
    }
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

/// The day of the object's `dt=` folder, `None` for what is not a batch object.
fn object_day(location: &ObjectPath) -> Option<i64> {
    let text = location.as_ref();
    if !text.ends_with(".ndjson") {
        return None;
    }
    let dt = text.split('/').find_map(|part| part.strip_prefix("dt="))?;
    let date = chrono::NaiveDate::parse_from_str(dt, "%Y-%m-%d").ok()?;
    let midnight = date.and_hms_opt(0, 0, 0)?.and_utc();
    Some(day_of(midnight.timestamp_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_dated_by_their_dt_folder() {
        let day = |text: &str| object_day(&ObjectPath::from(text));
        let expected = day_of(Timestamp::parse("2026-01-02T00:00:00Z").unwrap().micros());
        assert_eq!(
            day("raw/guardrail_followups/dt=2026-01-02/gf1-abc.ndjson"),
            Some(expected)
        );
        assert_eq!(day("guardrail_followups/dt=2026-01-02/notes.txt"), None);
        assert_eq!(day("guardrail_followups/other/gf1-abc.ndjson"), None);
        assert_eq!(day("guardrail_followups/dt=yesterday/gf1-abc.ndjson"), None);
    }

    #[test]
    fn a_quarantined_object_moves_beside_the_table_and_stops_being_a_batch_object() {
        let moved = |root: &str, text: &str| {
            quarantine_key(&ObjectPath::from(root), &ObjectPath::from(text)).to_string()
        };
        assert_eq!(
            moved(
                "guardrail_followups",
                "guardrail_followups/dt=2026-01-02/gf1-abc.ndjson"
            ),
            "guardrail_followups_quarantine/dt=2026-01-02/gf1-abc.ndjson.quarantined"
        );
        assert_eq!(
            moved(
                "raw/guardrail_followups/guardrail_followups",
                "raw/guardrail_followups/guardrail_followups/dt=2026-01-02/gf1-abc.ndjson"
            ),
            "raw/guardrail_followups/guardrail_followups_quarantine/dt=2026-01-02/gf1-abc.ndjson.quarantined"
        );
        let key = quarantine_key(
            &ObjectPath::from("raw/guardrail_followups"),
            &ObjectPath::from("raw/guardrail_followups/dt=2026-01-02/gf1-abc.ndjson"),
        );
        assert_eq!(object_day(&key), None);
        assert!(!key.as_ref().starts_with("raw/guardrail_followups/"));
    }
}
