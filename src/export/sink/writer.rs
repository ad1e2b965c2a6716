//! The NDJSON writers: stdout and a file replaced atomically.

use std::io::{ErrorKind, Write};
use std::path::Path;

use anyhow::Context;

use super::{Ack, SinkError};
use crate::error::Error;
use crate::export::batch::Batch;
use crate::fs::{AtomicFile, Readers};

/// NDJSON on stdout. Each batch is written whole and flushed before it counts as delivered.
pub struct StdoutSink {
    out: std::io::Stdout,
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink {
            out: std::io::stdout(),
        }
    }

    pub fn send(&mut self, batch: &Batch) -> Result<Ack, SinkError> {
        let mut out = self.out.lock();
        // Writing blocks when the reader is slow; keep the runtime's other tasks moving.
        let written = tokio::task::block_in_place(|| {
            out.write_all(&batch.ndjson)?;
            out.flush()
        });
        match written {
            Ok(()) => Ok(Ack::Durable),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(SinkError::Closed),
            Err(e) => Err(SinkError::Failed(
                anyhow::Error::new(e).context("writing to stdout"),
            )),
        }
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink::new()
    }
}

/// NDJSON file holding this run's rows. It is written to a temporary file beside the target
/// and renamed over it only when the run ends, so readers never see a partial file.
pub struct FileSink {
    file: AtomicFile,
}

impl FileSink {
    /// Opens a temporary file beside `path`, after removing those that killed runs left there
    /// (the cursor's lock keeps runs apart, so none of them is still being written).
    pub fn create(path: &Path) -> Result<FileSink, Error> {
        let dir = crate::fs::folder_of(path);
        if !dir.is_dir() {
            return Err(Error::config(format!(
                "the folder {} of --file-path does not exist. Fix: create it, or give a path in \
                 an existing folder",
                dir.display()
            )));
        }
        let prefix = temp_prefix(path);
        remove_stale_temps(dir, &prefix);
        // Readable as the umask allows (0644 by default), like any file the user writes.
        let file =
            AtomicFile::beside(path, &prefix, ".ndjson.tmp", Readers::Umask).map_err(|e| {
                anyhow::anyhow!(
                    "creating a temporary file in {} for --file-path: {e}",
                    dir.display()
                )
            })?;
        Ok(FileSink { file })
    }

    pub fn send(&mut self, batch: &Batch) -> Result<Ack, SinkError> {
        self.file
            .write_all(&batch.ndjson)
            .with_context(|| format!("writing {}", self.file.temp_path().display()))?;
        Ok(Ack::UntilFinish)
    }

    pub fn finish(self) -> Result<(), SinkError> {
        let target = self.file.target().to_owned();
        self.file
            .commit()
            .with_context(|| format!("moving the export into place at {}", target.display()))?;
        Ok(())
    }
}

/// `.guardrail-<file name>-`: the temporary files of one output file.
fn temp_prefix(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    format!(".guardrail-{name}-")
}

/// Removes the temporary files earlier runs of this output left when they were killed.
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Also the unnamed `.guardrail-XXXXXX.ndjson.tmp` of earlier versions.
        let unnamed = name
            .strip_prefix(".guardrail-")
            .and_then(|rest| rest.strip_suffix(".ndjson.tmp"))
            .is_some_and(|middle| {
                middle.len() == 6 && middle.chars().all(|c| c.is_ascii_alphanumeric())
            });
        if (name.starts_with(prefix) && name.ends_with(".ndjson.tmp")) || unnamed {
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
