//! The lake side of a reconcile: one streaming pass over the objects under
//! `guardrail_followups/` (a folder or an S3 prefix, read through `object_store` as the
//! gateway's S3 lake writes them), each line taken to the bounded [`Sorter`] as a [`Copy`]: its
//! `followUpId`, `createdAt`, the hash of the line (or the mark of a tombstone) and where the
//! object sits in the MERGE's order (its modification time, then its key: objects are listed
//! in key order, and numbered as they come).
//!
//! Objects are read as streams, line by line, so memory stays flat whatever an object's size:
//! only each object's copies are kept until they are sorted. What
//! cannot be read as a batch object is a finding, not a failure ([`Damaged`]): a line that is
//! not a follow-up row (a truncated object's last line among them), a symbolic link (never
//! followed: a `dt=` folder linked elsewhere is not the lake's, and a link loop is harmless),
//! an entry whose name is not UTF-8 or holds a line break. A local lake is listed here, without
//! following links, rather than by `object_store`, whose local listing follows them.
//!
//! An object's `dt=` folder is its batch's first row's day, and the exporter sends rows in
//! `(created_at, id)` order, so an object holds no row of a day before its `dt=`: objects
//! dated after `--until` are not read. A batch can reach into later days, so every object
//! dated up to `--until` is read, and its rows are grouped by their own `createdAt` day.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Deserialize;
use uuid::Uuid;

use super::content::{Copy, Sorter};
use super::progress::Progress;
use super::{Range, day_of};
use crate::error::{Error, Hint};
use crate::lake_layout::{
    LakeUri, QUARANTINE_PREFIX, QUARANTINE_SUFFIX, TABLE_PREFIX, quarantine_key,
};
use crate::s3::S3Options;
use crate::time::Timestamp;

/// Objects read at once (S3 round trips overlap; memory is this many small objects' rows).
const FETCHES: usize = 8;

/// What one pass over the lake read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LakeTotals {
    /// Objects read.
    pub objects: u64,
    /// Rows in the range, duplicates included.
    pub rows: u64,
    /// Entries that could not be read as batch objects, in listing order.
    pub damaged: Vec<Damaged>,
}

/// A lake entry that is not a readable batch object: the lake holds something the gateway did
/// not write as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// Its key under the lake, printable (a line break shows as `\n`, bytes that are not UTF-8
    /// as the replacement character).
    pub key: String,
    /// What is wrong, e.g. `line 3 is not a follow-up row (…)`.
    pub reason: String,
    /// The days of the rows that were read from it (and counted): a repair delivers them
    /// again before the entry leaves the lake. Empty for an entry that was not read.
    pub days: BTreeSet<i64>,
    place: Place,
}

/// Where a damaged entry is, to move it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Object(ObjectPath),
    /// A local entry named by its raw path (an odd name, a link), moved without following it.
    File(PathBuf),
}

/// One entry of the lake's listing.
enum Entry {
    Object {
        location: ObjectPath,
        size: u64,
        /// Its last modification, in microseconds.
        modified: i64,
    },
    Damaged(Damaged),
}

/// Rows of one object as they are read: a [`Copy`] of each line that could be read. A small
/// object comes whole; a large one in parts of at most [`PART_ROWS`] rows, so memory does not
/// grow with an object's size.
pub(super) struct ObjectRows {
    /// `None` for an entry that could not be read at all.
    pub location: Option<ObjectPath>,
    pub rows: Vec<Copy>,
    /// The object's last part: its rows are all read.
    pub complete: bool,
    /// On the last part: what was wrong with the object, if anything.
    pub damaged: Option<Damaged>,
}

/// Objects up to this size are read [`FETCHES`] at once and handed over whole; larger ones
/// are read one at a time, in parts.
const WHOLE_OBJECT_BYTES: u64 = 8 * 1024 * 1024;

/// Rows per part of a large object (24 bytes each).
const PART_ROWS: usize = 1 << 16;

/// The longest line read; a longer one makes a damaged object (a row is a few kilobytes).
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A lake opened for reading.
pub struct LakeReader {
    store: Arc<dyn ObjectStore>,
    /// The lake's folder, for a local lake: listed here without following links.
    folder: Option<PathBuf>,
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
    /// Only a tombstone has it.
    #[serde(rename = "deletedAt", borrow, default)]
    deleted_at: Option<&'a str>,
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
                    folder: Some(folder.clone()),
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
                    folder: None,
                    root,
                    description,
                })
            }
        }
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Reads every object that can hold rows of `range`, each of its lines in the range pushed
    /// to `copies`; damaged entries are counted in the totals.
    pub async fn read(
        &self,
        range: &Range,
        copies: &mut Sorter,
        progress: &Progress,
    ) -> Result<LakeTotals, Error> {
        let last_day = range.until.map(|until| day_of(until.micros() - 1));
        let mut totals = LakeTotals::default();
        self.each_object(last_day, |object| {
            let mut rows = 0;
            for copy in &object.rows {
                if range.contains(Timestamp::from_micros(copy.created_at)) {
                    copies.push(*copy).map_err(Error::from)?;
                    rows += 1;
                }
            }
            if object.complete && object.location.is_some() {
                totals.objects += 1;
            }
            totals.rows += rows;
            if let Some(damaged) = &object.damaged {
                tracing::warn!(key = %damaged.key, "damaged lake entry {}: {}", damaged.key, damaged.reason);
                totals.damaged.push(damaged.clone());
            }
            progress.object(rows);
            Ok(())
        })
        .await?;
        Ok(totals)
    }

    /// Hands the rows of every batch object dated up to `last_day` (all of them with `None`),
    /// and every damaged entry, to `each`, in listing order: small objects [`FETCHES`] read at
    /// once and whole, large ones one at a time in parts.
    pub(super) async fn each_object(
        &self,
        last_day: Option<i64>,
        mut each: impl FnMut(&ObjectRows) -> Result<(), Error>,
    ) -> Result<(), Error> {
        /// What the read-ahead hands over.
        enum Fetched {
            Whole(ObjectRows),
            Large(ObjectPath, (i64, u64)),
        }
        // Each object's place in the MERGE's order: its modification time, then its place in
        // the listing, which is in key order.
        let mut listed = 0u64;
        let objects = self
            .entries()
            .map_ok(move |entry| {
                listed += 1;
                (entry, listed)
            })
            .try_filter(move |(entry, _)| {
                let wanted = match entry {
                    Entry::Object { location, .. } => object_day(location)
                        .is_some_and(|day| last_day.is_none_or(|last| day <= last)),
                    Entry::Damaged(_) => true,
                };
                async move { wanted }
            })
            .map_ok(|(entry, listed)| async move {
                match entry {
                    Entry::Object {
                        location,
                        size,
                        modified,
                    } if size > WHOLE_OBJECT_BYTES => {
                        Ok(Fetched::Large(location, (modified, listed)))
                    }
                    Entry::Object {
                        location, modified, ..
                    } => {
                        let mut whole = None;
                        self.read_object(location, (modified, listed), usize::MAX, |part| {
                            whole = Some(part);
                            Ok(())
                        })
                        .await?;
                        Ok(Fetched::Whole(whole.expect("a last part")))
                    }
                    Entry::Damaged(damaged) => Ok(Fetched::Whole(ObjectRows {
                        location: None,
                        rows: Vec::new(),
                        complete: true,
                        damaged: Some(damaged),
                    })),
                }
            })
            .try_buffered(FETCHES);
        futures_util::pin_mut!(objects);
        while let Some(fetched) = objects.try_next().await? {
            match fetched {
                Fetched::Whole(object) => each(&object)?,
                Fetched::Large(location, order) => {
                    self.read_object(location, order, PART_ROWS, |part| each(&part))
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// The lake's entries under `guardrail_followups/`.
    fn entries(&self) -> BoxStream<'_, Result<Entry, Error>> {
        match &self.folder {
            Some(folder) => {
                let table = folder.join(TABLE_PREFIX);
                // The table's folder itself is walked only when it is a real folder: a link
                // is an entry like any other (min_depth 0 yields it, and it is not followed).
                let root_is_link =
                    std::fs::symlink_metadata(&table).is_ok_and(|m| m.file_type().is_symlink());
                if !root_is_link && !table.is_dir() {
                    return futures_util::stream::empty().boxed();
                }
                let walk = walkdir::WalkDir::new(&table)
                    .follow_links(false)
                    .follow_root_links(false)
                    .min_depth(usize::from(!root_is_link))
                    .sort_by_file_name();
                let folder = folder.clone();
                futures_util::stream::iter(walk)
                    .filter_map(move |entry| {
                        let entry = local_entry(&folder, entry);
                        async move { entry }
                    })
                    .boxed()
            }
            None => self
                .store
                .list(Some(&self.root))
                .map_ok(|meta| Entry::Object {
                    location: meta.location,
                    size: meta.size,
                    modified: meta.last_modified.timestamp_micros(),
                })
                .map_err(|e| self.list_error(e))
                .boxed(),
        }
    }

    /// Reads one object as a stream of lines, handing its rows to `emit` every `part_rows`
    /// rows and once more, `complete`, at its end.
    async fn read_object(
        &self,
        location: ObjectPath,
        order: (i64, u64),
        part_rows: usize,
        mut emit: impl FnMut(ObjectRows) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut stream = self
            .store
            .get(&location)
            .await
            .map_err(|e| self.read_error(&location, e))?
            .into_stream();
        let mut rows = Vec::new();
        let mut days = BTreeSet::new();
        let mut bad: Option<(u64, String)> = None;
        let mut bad_lines = 0u64;
        let mut line_no = 0u64;
        let mut pending: Vec<u8> = Vec::new();
        let mut note = |line_no: u64, reason: String| {
            bad_lines += 1;
            bad.get_or_insert((line_no, reason));
        };
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| self.read_error(&location, e))?
        {
            pending.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(end) = memchr::memchr(b'\n', &pending[start..]) {
                line_no += 1;
                match line_copy(&pending[start..start + end], order) {
                    Ok(Some(row)) => {
                        days.insert(row.day());
                        rows.push(row);
                    }
                    Ok(None) => {}
                    Err(reason) => note(line_no, reason),
                }
                start += end + 1;
            }
            pending.drain(..start);
            if rows.len() >= part_rows {
                emit(ObjectRows {
                    location: Some(location.clone()),
                    rows: std::mem::take(&mut rows),
                    complete: false,
                    damaged: None,
                })?;
            }
            if pending.len() > MAX_LINE_BYTES {
                note(
                    line_no + 1,
                    format!("a line longer than {MAX_LINE_BYTES} bytes"),
                );
                break;
            }
        }
        if !pending.is_empty() && pending.len() <= MAX_LINE_BYTES {
            line_no += 1;
            match line_copy(&pending, order) {
                Ok(Some(row)) => {
                    days.insert(row.day());
                    rows.push(row);
                }
                Ok(None) => {}
                Err(reason) => note(
                    line_no,
                    format!(
                        "{reason}; it is the last line and has no line break: the object is cut off"
                    ),
                ),
            }
        }
        let damaged = bad.map(|(line, reason)| {
            let more = match bad_lines {
                1 => String::new(),
                n => format!(" (and {} more bad lines)", n - 1),
            };
            Damaged {
                key: location.to_string(),
                reason: format!("line {line} is not a follow-up row: {reason}{more}"),
                days,
                place: Place::Object(location.clone()),
            }
        });
        emit(ObjectRows {
            location: Some(location),
            rows,
            complete: true,
            damaged,
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

    /// Moves a damaged entry to the quarantine, as [`LakeReader::quarantine`] does; a local
    /// entry by its raw path, so a link moves itself, never what it points to. Returns the key
    /// it went to.
    pub(super) async fn quarantine_damaged(&self, damaged: &Damaged) -> Result<String, Error> {
        match &damaged.place {
            Place::Object(location) => Ok(self.quarantine(location).await?.to_string()),
            Place::File(path) => {
                let folder = self
                    .folder
                    .as_deref()
                    .expect("a local entry is in a folder");
                let rest = path
                    .strip_prefix(folder.join(TABLE_PREFIX))
                    .expect("listed under the table's folder");
                // The table's folder itself, when it is a link.
                let rest = if rest.as_os_str().is_empty() {
                    Path::new(TABLE_PREFIX)
                } else {
                    rest
                };
                let mut name = folder.join(QUARANTINE_PREFIX).join(rest).into_os_string();
                name.push(QUARANTINE_SUFFIX);
                let to = PathBuf::from(name);
                let moved = std::fs::create_dir_all(crate::fs::folder_of(&to))
                    .and_then(|()| std::fs::rename(path, &to));
                moved.map_err(|e| {
                    Error::runtime(Hint::new(
                        format!(
                            "cannot move the damaged lake entry {} to {}: {e}",
                            damaged.key,
                            to.display()
                        ),
                        "--repair needs write permission on the lake folder; grant it and rerun \
                         --repair (this entry stays in place)",
                    ))
                })?;
                Ok(printable(to.strip_prefix(folder).unwrap_or(&to)))
            }
        }
    }

    /// Whether the lake holds an entry at `key` (relative to the lake's root, as
    /// [`crate::lake_layout::batch_key`] names a batch): a repair batch the lake already holds
    /// would change nothing there (the same bytes) or be refused (other bytes).
    pub async fn holds(&self, key: &str) -> Result<bool, Error> {
        if let Some(folder) = &self.folder {
            // A link at the key counts: the gateway would not write over it either.
            return match std::fs::symlink_metadata(folder.join(key)) {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(Error::runtime(Hint::new(
                    format!("cannot look at {key} in the lake {}: {e}", self.description),
                    "check that this user may read the lake folder",
                ))),
            };
        }
        let parent = self.root.as_ref().strip_suffix(TABLE_PREFIX).unwrap_or("");
        let location = ObjectPath::from(format!("{parent}{key}"));
        match self.store.head(&location).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.read_error(&location, e)),
        }
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
}

/// The day of the object's `dt=` folder, `None` for what is not a batch object.
fn object_day(location: &ObjectPath) -> Option<i64> {
    let text = location.as_ref();
    if !text.ends_with(".ndjson") {
        return None;
    }
    let date = crate::lake_layout::object_date(text)?;
    let midnight = date.and_hms_opt(0, 0, 0)?.and_utc();
    Some(day_of(midnight.timestamp_micros()))
}

/// One line's copy, at `order` in the lake; `None` for a blank line.
pub(super) fn line_copy(line: &[u8], order: (i64, u64)) -> Result<Option<Copy>, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let row: LakeRow<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let created_at = Timestamp::parse(row.created_at).map_err(|e| format!("createdAt: {e}"))?;
    Ok(Some(match row.deleted_at {
        Some(_) => Copy::tombstone(&row.id, order, created_at),
        None => Copy::row(&row.id, order, created_at, line),
    }))
}

/// A listed local entry: a batch object, a damaged entry, or nothing (a folder, a file that is
/// not a batch object).
fn local_entry(
    folder: &Path,
    entry: Result<walkdir::DirEntry, walkdir::Error>,
) -> Option<Result<Entry, Error>> {
    let entry = match entry {
        Ok(entry) => entry,
        Err(e) => {
            let path = e.path().map(Path::to_path_buf);
            return Some(Ok(match path {
                Some(path) => Entry::Damaged(Damaged {
                    key: printable(path.strip_prefix(folder).unwrap_or(&path)),
                    reason: format!("cannot be read: {e}"),
                    days: BTreeSet::new(),
                    place: Place::File(path),
                }),
                None => return Some(Err(Error::from(anyhow::anyhow!("listing the lake: {e}")))),
            }));
        }
    };
    let path = entry.path();
    let key = printable(path.strip_prefix(folder).unwrap_or(path));
    let damaged = |reason: String| {
        Some(Ok(Entry::Damaged(Damaged {
            key: key.clone(),
            reason,
            days: BTreeSet::new(),
            place: Place::File(path.to_path_buf()),
        })))
    };
    if entry.path_is_symlink() {
        let target =
            std::fs::read_link(path).map_or_else(|_| "?".to_owned(), |t| t.display().to_string());
        return damaged(format!(
            "a symbolic link (to {target}): reconcile reads nothing through links, and --repair \
             moves the link itself to the quarantine, never what it points to"
        ));
    }
    if !entry.file_type().is_file() {
        return None;
    }
    let Some(relative) = path.strip_prefix(folder).ok().and_then(Path::to_str) else {
        return damaged("its name is not UTF-8: the gateway never writes such a name".into());
    };
    if relative.contains(['\n', '\r']) {
        return damaged("its name holds a line break: the gateway never writes such a name".into());
    }
    let location = ObjectPath::from(relative);
    object_day(&location)?;
    let metadata = entry.metadata().ok();
    let size = metadata.as_ref().map_or(0, std::fs::Metadata::len);
    let modified = metadata.and_then(|m| m.modified().ok()).map_or(0, |at| {
        chrono::DateTime::<chrono::Utc>::from(at).timestamp_micros()
    });
    Some(Ok(Entry::Object {
        location,
        size,
        modified,
    }))
}

/// A path as a report shows it: lossy UTF-8, line breaks escaped.
fn printable(path: &Path) -> String {
    path.to_string_lossy()
        .replace('\n', "\\n")
        .replace('\r', "\\r")
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
