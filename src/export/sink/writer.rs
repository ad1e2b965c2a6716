//! The NDJSON writers: stdout and a file replaced atomically.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use async_trait::async_trait;

use super::{Ack, Delivery, Sink, SinkError, SinkTarget};
use crate::error::Error;
use crate::export::batch::Batch;
use crate::fs::{AtomicFile, Readers};
use crate::verdict::{Check, Verdict};

/// `--sink stdout`: NDJSON on stdout.
#[derive(Debug, Clone, Copy)]
pub struct StdoutTarget;

#[async_trait]
impl SinkTarget for StdoutTarget {
    fn open(&self) -> Result<Box<dyn Sink>, Error> {
        Ok(Box::new(StdoutSink::new()))
    }

    async fn check(&self) -> Check {
        ("sink", Verdict::Ok("stdout".into()))
    }
}

/// `--sink file`: NDJSON at `--file-path`, replaced when the run ends.
#[derive(Debug, Clone)]
pub struct FileTarget {
    pub path: PathBuf,
}

#[async_trait]
impl SinkTarget for FileTarget {
    fn open(&self) -> Result<Box<dyn Sink>, Error> {
        Ok(Box::new(FileSink::create(&self.path)?))
    }

    async fn check(&self) -> Check {
        let dir = crate::fs::folder_of(&self.path);
        let verdict = if dir.is_dir() {
            Verdict::Ok(format!("file {}", self.path.display()))
        } else {
            Verdict::problem(
                format!("the folder {} of --file-path does not exist", dir.display()),
                "create it, or give a path in an existing folder",
            )
        };
        ("sink", verdict)
    }
}

/// NDJSON on stdout. Each batch is written whole and flushed before it counts as delivered.
struct StdoutSink {
    out: std::io::Stdout,
}

impl StdoutSink {
    fn new() -> StdoutSink {
        StdoutSink {
            out: std::io::stdout(),
        }
    }
}

/// Writes happen when the batch is handed over, one batch at a time, so the output keeps the
/// batches' order; the delivery is then already complete.
#[async_trait]
impl Sink for StdoutSink {
    fn send(&mut self, batch: Batch) -> Delivery {
        let mut out = self.out.lock();
        // Writing blocks when the reader is slow; keep the runtime's other tasks moving.
        let written = tokio::task::block_in_place(|| {
            out.write_all(&batch.ndjson)?;
            out.flush()
        });
        let result = match written {
            Ok(()) => Ok(Ack::Durable),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(SinkError::Closed),
            Err(e) => Err(SinkError::Failed(
                anyhow::Error::new(e).context("writing to stdout"),
            )),
        };
        Box::pin(std::future::ready(result))
    }
}

/// NDJSON file holding this run's rows. It is written to a temporary file beside the target
/// and renamed over it only when the run ends, so readers never see a partial file.
struct FileSink {
    file: AtomicFile,
}

impl FileSink {
    /// Opens a temporary file beside `path`, after removing those that killed runs left there
    /// (the cursor's lock keeps runs apart, so none of them is still being written).
    fn create(path: &Path) -> Result<FileSink, Error> {
        let dir = crate::fs::folder_of(path);
        if !dir.is_dir() {
            return Err(Error::config_fix(
                format!("the folder {} of --file-path does not exist", dir.display()),
                "create it, or give a path in an existing folder",
            ));
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
}

/// Like stdout, the batch is written when it is handed over, in order.
#[async_trait]
impl Sink for FileSink {
    fn send(&mut self, batch: Batch) -> Delivery {
        let result = self
            .file
            .write_all(&batch.ndjson)
            .with_context(|| format!("writing {}", self.file.temp_path().display()))
            .map(|()| Ack::UntilFinish)
            .map_err(SinkError::from);
        Box::pin(std::future::ready(result))
    }

    async fn finish(self: Box<Self>) -> Result<(), SinkError> {
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
