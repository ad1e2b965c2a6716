//! A lake in a local folder.
//!
//! A put writes a temporary file, fsyncs it, renames it into place and fsyncs its folder
//! ([`crate::fs::AtomicFile`]; `object_store`'s `LocalFileSystem` does not fsync, so the folder is
//! written here by hand). Temporary files live in `<lake>/.tmp/`, on the same filesystem as the
//! objects (so the rename is atomic) but outside `guardrail_followups/`: a crash mid-write
//! leaves nothing where the stage reads, and [`LocalLake`]'s `prepare` removes the leftovers
//! when the gateway starts.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::fs::{AtomicFile, Readers, create_dirs_durably};
use crate::gateway::lake::{LakeStore, Put, PutError, compare_existing};

/// The local lake's folder for files being written.
pub const STAGING_DIR: &str = ".tmp";

/// What `check` writes and fsyncs to prove the disk takes a batch.
pub const PROBE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct LocalLake {
    root: PathBuf,
}

impl LocalLake {
    /// A lake in the folder `root`. Nothing is touched until `prepare` or the first write.
    pub fn new(root: impl Into<PathBuf>) -> LocalLake {
        LocalLake { root: root.into() }
    }
}

impl LakeStore for LocalLake {
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<Put, PutError>> {
        let (root, key) = (self.root.clone(), key.to_owned());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || put(&root, &key, &bytes))
                .await
                .map_err(|e| PutError::Failed(anyhow::Error::new(e).context("the storage task")))?
        })
    }

    /// Proves that a batch could be written: writes and fsyncs a real block of
    /// [`PROBE_BYTES`] in the staging folder, then removes it. A full disk fails here, as it
    /// would fail the next batch, even while an empty file could still be created.
    fn check(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        let root = self.root.clone();
        Box::pin(blocking(move || {
            let staging = root.join(STAGING_DIR);
            let probe = || -> std::io::Result<()> {
                if !root.is_dir() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "the folder does not exist",
                    ));
                }
                create_dirs_durably(&root, &staging)?;
                let mut file = tempfile::tempfile_in(&staging)?;
                file.write_all(&[0u8; PROBE_BYTES])?;
                file.sync_all()
            };
            probe().with_context(|| format!("cannot write in the lake folder {}", root.display()))
        }))
    }

    /// Creates the folder and removes the temporary files that an earlier crash left in it.
    /// Removing a file that another gateway on the same folder is still writing only makes
    /// that write fail (503, retried): it was not yet acknowledged.
    fn prepare(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        let root = self.root.clone();
        Box::pin(blocking(move || {
            std::fs::create_dir_all(&root)
                .with_context(|| format!("cannot create the lake folder {}", root.display()))?;
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
        }))
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// Temporary file in the staging folder, fsync, move into place unless the key is taken,
/// fsync the object's folder.
fn put(root: &Path, key: &str, bytes: &[u8]) -> Result<Put, PutError> {
    let path = root.join(key);
    if let Some(stored) = read_existing(&path)? {
        return compare_existing(key, &stored, bytes);
    }
    let folder = path.parent().expect("a batch key has folders");
    create_dirs_durably(root, folder)
        .with_context(|| format!("cannot create the lake folder {}", folder.display()))?;
    let staging = root.join(STAGING_DIR);
    create_dirs_durably(root, &staging)
        .with_context(|| format!("cannot create the staging folder {}", staging.display()))?;
    let write = || -> std::io::Result<bool> {
        // Lake objects are for the loader: readable as the umask allows (0644 by default).
        let mut file =
            AtomicFile::staged_in(&staging, &path, ".guardrail-", ".tmp", Readers::Umask)?;
        file.write_all(bytes)?;
        file.commit_new()
    };
    if write().with_context(|| format!("cannot write {}", path.display()))? {
        return Ok(Put::Stored);
    }
    // Another request stored this key between the look above and the move.
    let stored = read_existing(&path)?.unwrap_or_default();
    compare_existing(key, &stored, bytes)
}

/// The bytes stored at `path`, if any.
fn read_existing(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", path.display()))),
    }
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

    #[tokio::test]
    async fn a_put_lands_whole_and_prepare_removes_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path());
        lake.prepare().await.unwrap();
        lake.check().await.unwrap();
        let key = "guardrail_followups/dt=2026-01-02/gf1-a.ndjson";
        lake.put(key, Bytes::from_static(b"{}\n")).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join(key)).unwrap(), b"{}\n");
        let staging = dir.path().join(STAGING_DIR);
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
        std::fs::write(staging.join(".guardrail-x.tmp"), b"half").unwrap();
        lake.prepare().await.unwrap();
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_missing_folder_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path().join("absent"));
        let error = lake.check().await.unwrap_err();
        assert!(format!("{error:#}").contains("cannot write in the lake folder"));
    }
}
