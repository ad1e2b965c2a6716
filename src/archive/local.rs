//! The archive in a folder: each file written beside its target and renamed into place
//! (`fs::AtomicFile`), so a reader sees the old file or the new one.

use std::path::Path;

use anyhow::Context;

use super::{Delivered, LATEST};
use crate::fs::{AtomicFile, Readers};

/// The temporary files of the archive, removed when a killed run left them.
const TEMP_PREFIX: &str = ".guardrail-archive-";
const TEMP_SUFFIX: &str = ".ndjson.tmp";

/// Writes the dated copy `copy`, then `latest.ndjson`, under `dir`.
pub(super) async fn publish(dir: &Path, copy: &str, source: Delivered) -> anyhow::Result<()> {
    let dir = dir.to_owned();
    let copy = copy.to_owned();
    tokio::task::spawn_blocking(move || {
        remove_stale_temps(&dir);
        let copy = dir.join(copy);
        let folder = crate::fs::folder_of(&copy);
        crate::fs::create_dirs_durably(&dir, folder)
            .with_context(|| format!("cannot create the folder {}", folder.display()))?;
        write(&dir, &copy, &source)?;
        write(&dir, &dir.join(LATEST), &source)
    })
    .await
    .context("the archive's writer stopped")?
}

/// Replaces `target` with the delivered bytes, staged in the archive's folder `dir` (where
/// [`remove_stale_temps`] finds what a killed run left).
fn write(dir: &Path, target: &Path, source: &Delivered) -> anyhow::Result<()> {
    let written = (|| {
        let mut file =
            AtomicFile::staged_in(dir, target, TEMP_PREFIX, TEMP_SUFFIX, Readers::Umask)?;
        let copied = std::io::copy(&mut source.reader()?, &mut file)?;
        if copied != source.bytes {
            return Err(std::io::Error::other(format!(
                "the temporary copy holds {copied} of {} bytes",
                source.bytes
            )));
        }
        file.commit()
    })();
    written.with_context(|| format!("cannot write {}", target.display()))
}

/// `check`: the folder exists and takes a file. `Ok(true)` when `latest.ndjson` is there.
pub(super) fn probe(dir: &Path) -> anyhow::Result<bool> {
    if !dir.is_dir() {
        anyhow::bail!("the folder does not exist");
    }
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .context("cannot create a file there")?;
    Ok(dir.join(LATEST).is_file())
}

/// Removes what runs killed while writing left behind (the cursor's lock keeps runs apart, so
/// none of these is still being written).
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(
                    "removed {} left by an interrupted run",
                    entry.path().display()
                ),
                Err(e) => tracing::warn!("cannot remove {}: {e}", entry.path().display()),
            }
        }
    }
}
