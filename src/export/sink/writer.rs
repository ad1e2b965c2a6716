//! The NDJSON writers: stdout and a file replaced atomically.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use tempfile::NamedTempFile;

use super::{Ack, SinkError};
use crate::export::batch::Batch;

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
    path: PathBuf,
    temp: NamedTempFile,
}

impl FileSink {
    pub fn create(path: &Path) -> anyhow::Result<FileSink> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the folder of --file-path {}", path.display()))?;
        let temp = tempfile::Builder::new()
            .prefix(".guardrail-")
            .suffix(".ndjson.tmp")
            .tempfile_in(dir)
            .with_context(|| {
                format!(
                    "creating a temporary file in {} for --file-path",
                    dir.display()
                )
            })?;
        Ok(FileSink {
            path: path.to_owned(),
            temp,
        })
    }

    pub fn send(&mut self, batch: &Batch) -> Result<Ack, SinkError> {
        self.temp
            .write_all(&batch.ndjson)
            .with_context(|| format!("writing {}", self.temp.path().display()))?;
        Ok(Ack::UntilFinish)
    }

    pub fn finish(self) -> Result<(), SinkError> {
        let FileSink { path, temp } = self;
        temp.as_file()
            .sync_all()
            .with_context(|| format!("syncing {}", temp.path().display()))?;
        temp.persist(&path).map_err(|e| {
            anyhow::anyhow!(
                "moving the export into place at {}: {}",
                path.display(),
                e.error
            )
        })?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        crate::cursor::sync_dir(dir)
            .with_context(|| format!("syncing the folder {}", dir.display()))?;
        Ok(())
    }
}
