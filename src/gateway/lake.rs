//! The lake: where batches land, one NDJSON object per batch at
//! `guardrail_followups/dt=YYYY-MM-DD/<idempotency-key>.ndjson` under the lake's root.
//!
//! A [`Lake::put`] that returns `Ok` means the object is durable: a local file was written to a
//! temporary file, fsynced, renamed into place and its folder fsynced (object_store's
//! `LocalFileSystem` does not fsync, so the local lake is written here by hand); an S3 object
//! was acknowledged by the store, and an S3 PUT is atomic. Writing the same key again replaces
//! the object whole, so a resent batch overwrites itself.
//!
//! Local temporary files live in `<lake>/.tmp/`, on the same filesystem as the objects (so the
//! rename is atomic) but outside `guardrail_followups/`: a crash mid-write leaves nothing where
//! the stage reads, and the leftovers are removed when the gateway starts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use chrono::NaiveDate;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::fs::{AtomicFile, Readers, create_dirs_durably};
use crate::s3::{S3Uri, open_bucket};

pub use crate::s3::S3Options;

/// The folder (or key prefix) that the Snowflake stage reads.
pub const TABLE_PREFIX: &str = "guardrail_followups";

/// The local lake's folder for files being written.
pub const STAGING_DIR: &str = ".tmp";

/// Where the lake is, as given by `--lake`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUri {
    /// A folder: a plain path or `file:///path`.
    Local(PathBuf),
    /// `s3://bucket/prefix`; the prefix may be empty.
    S3 { bucket: String, prefix: String },
}

impl LakeUri {
    pub fn parse(text: &str) -> Result<LakeUri, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("it is empty; give a folder, file:///folder or s3://bucket/prefix".into());
        }
        if text.starts_with("s3://") {
            let uri = S3Uri::parse(text, true)?;
            return Ok(LakeUri::S3 {
                bucket: uri.bucket,
                prefix: uri.key,
            });
        }
        if text.starts_with("file:") {
            let url = url::Url::parse(text).map_err(|e| format!("it is not a file URL ({e})"))?;
            let path = url
                .to_file_path()
                .map_err(|()| "it is not a file:///absolute/path URL".to_owned())?;
            return Ok(LakeUri::Local(path));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "`{scheme}://` is not supported; use a folder, file:///folder or s3://bucket/prefix"
            ));
        }
        Ok(LakeUri::Local(PathBuf::from(text)))
    }
}

/// An opened lake.
#[derive(Debug, Clone)]
pub enum Lake {
    Local {
        root: PathBuf,
    },
    S3 {
        store: Arc<dyn ObjectStore>,
        prefix: String,
        description: String,
    },
}

impl Lake {
    /// A lake in the folder `root`. Nothing is touched until the first write.
    pub fn local(root: impl Into<PathBuf>) -> Lake {
        Lake::Local { root: root.into() }
    }

    /// An S3 lake. Credentials and other settings come from the `AWS_*` environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`…).
    pub fn s3(bucket: &str, prefix: &str, options: &S3Options) -> anyhow::Result<Lake> {
        let store = open_bucket(bucket, options)
            .with_context(|| format!("cannot set up the S3 lake s3://{bucket}"))?;
        let description = match &options.endpoint {
            Some(endpoint) => format!("s3://{bucket}/{prefix} at {endpoint}"),
            None => format!("s3://{bucket}/{prefix}"),
        };
        Ok(Lake::S3 {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            description,
        })
    }

    pub fn open(uri: &LakeUri, options: &S3Options) -> anyhow::Result<Lake> {
        match uri {
            LakeUri::Local(root) => Ok(Lake::local(root.clone())),
            LakeUri::S3 { bucket, prefix } => Lake::s3(bucket, prefix, options),
        }
    }

    /// Where the lake is, for logs.
    pub fn describe(&self) -> String {
        match self {
            Lake::Local { root } => root.display().to_string(),
            Lake::S3 { description, .. } => description.clone(),
        }
    }

    /// The key of a batch, relative to the lake's root (folder, or bucket prefix).
    pub fn batch_key(date: NaiveDate, idempotency_key: &str) -> String {
        format!(
            "{TABLE_PREFIX}/dt={}/{idempotency_key}.ndjson",
            date.format("%Y-%m-%d")
        )
    }

    /// Creates the local lake's folder and removes the temporary files that an earlier crash
    /// left in it; nothing to do for S3. Removing a file that another gateway on the same
    /// folder is still writing only makes that write fail (503, retried): it was not yet
    /// acknowledged.
    pub async fn prepare(&self) -> anyhow::Result<()> {
        match self {
            Lake::Local { root } => {
                let root = root.clone();
                blocking(move || {
                    std::fs::create_dir_all(&root).with_context(|| {
                        format!("cannot create the lake folder {}", root.display())
                    })?;
                    let staging = root.join(STAGING_DIR);
                    let removed = remove_leftovers(&staging)
                        .with_context(|| format!("cannot clean {}", staging.display()))?;
                    if removed > 0 {
                        tracing::info!(
                            "removed {removed} unfinished temporary files from {}",
                            staging.display()
                        );
                    }
                    Ok(())
                })
                .await
            }
            Lake::S3 { .. } => Ok(()),
        }
    }

    /// Stores `bytes` at `key` (from [`Lake::batch_key`]); `Ok` once it is durable.
    pub async fn put(&self, key: &str, bytes: Bytes) -> anyhow::Result<()> {
        match self {
            Lake::Local { root } => {
                let (root, key) = (root.clone(), key.to_owned());
                blocking(move || put_local(&root, &key, &bytes)).await
            }
            Lake::S3 {
                store,
                prefix,
                description,
            } => {
                let location = s3_location(prefix, key);
                store
                    .put(&location, PutPayload::from_bytes(bytes))
                    .await
                    .with_context(|| format!("cannot store {location} in {description}"))?;
                Ok(())
            }
        }
    }

    /// Whether a batch could be written now. The local lake proves it by creating (and
    /// dropping) an unnamed file in its folder; an S3 lake is not probed, since every probe
    /// would be a billed request and an object the stage might read.
    pub async fn check(&self) -> anyhow::Result<()> {
        match self {
            Lake::Local { root } => {
                let root = root.clone();
                blocking(move || {
                    tempfile::tempfile_in(&root).map(drop).with_context(|| {
                        format!("cannot write in the lake folder {}", root.display())
                    })
                })
                .await
            }
            Lake::S3 { .. } => Ok(()),
        }
    }
}

/// The object's key in the bucket: the lake's prefix, then the batch key.
fn s3_location(prefix: &str, key: &str) -> ObjectPath {
    if prefix.is_empty() {
        ObjectPath::from(key)
    } else {
        ObjectPath::from(format!("{prefix}/{key}"))
    }
}

/// Temporary file in the staging folder, fsync, rename into place, fsync the object's folder.
fn put_local(root: &Path, key: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = root.join(key);
    let folder = path.parent().expect("a batch key has folders");
    create_dirs_durably(root, folder)
        .with_context(|| format!("cannot create the lake folder {}", folder.display()))?;
    let staging = root.join(STAGING_DIR);
    create_dirs_durably(root, &staging)
        .with_context(|| format!("cannot create the staging folder {}", staging.display()))?;
    let write = || -> std::io::Result<()> {
        // Lake objects are for the loader: readable as the umask allows (0644 by default).
        let mut file =
            AtomicFile::staged_in(&staging, &path, ".guardrail-", ".tmp", Readers::Umask)?;
        file.write_all(bytes)?;
        file.commit()
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

/// Removes the files in `staging` (a missing folder has none); returns how many.
fn remove_leftovers(staging: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(staging) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .context("the storage task did not finish")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_uris_parse_into_folders_and_buckets() {
        assert_eq!(
            LakeUri::parse("./lake").unwrap(),
            LakeUri::Local("./lake".into())
        );
        assert_eq!(
            LakeUri::parse("file:///var/lib/lake").unwrap(),
            LakeUri::Local("/var/lib/lake".into())
        );
        assert_eq!(
            LakeUri::parse("s3://analytics/raw/").unwrap(),
            LakeUri::S3 {
                bucket: "analytics".into(),
                prefix: "raw".into()
            }
        );
        assert_eq!(
            LakeUri::parse("s3://analytics").unwrap(),
            LakeUri::S3 {
                bucket: "analytics".into(),
                prefix: String::new()
            }
        );
        assert!(
            LakeUri::parse("s3:///raw")
                .unwrap_err()
                .contains("no bucket")
        );
        assert!(
            LakeUri::parse("gs://b/p")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(LakeUri::parse(" ").is_err());
    }

    #[test]
    fn a_batch_key_is_dated_and_named_by_its_idempotency_key() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert_eq!(
            Lake::batch_key(date, "gf1-abc"),
            "guardrail_followups/dt=2026-01-02/gf1-abc.ndjson"
        );
        assert_eq!(s3_location("", "a/b").as_ref(), "a/b");
        assert_eq!(s3_location("raw/x", "a/b").as_ref(), "raw/x/a/b");
    }
}
