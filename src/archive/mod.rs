//! The archive of delivered rows (`--archive-uri`): a folder or an `s3://bucket/prefix` where
//! each run leaves a copy of exactly the rows it delivered, in order, byte for byte as sent.
//!
//! Layout under the location:
//!
//! ```text
//! latest.ndjson                                      the newest run that delivered rows
//! runs/YYYY/MM/DD/YYYYMMDDTHHMMSS.ffffffZ.ndjson     one per such run, named by its start (UTC)
//! ```
//!
//! During the run every batch is appended to a [`Spool`] (a file, so a large run is never held
//! in memory) before it is sent, and the spool remembers how far the sink has acknowledged.
//! For a folder archive the spool is kept in the folder ([`journal`]), so the rows of a run
//! that was killed are published by the next run; for S3 it is a temporary file, gone with a
//! killed process (the lake still holds those rows). After the run, the acknowledged prefix is written as the dated copy and then
//! as `latest.ndjson`, each atomically (a renamed file; an S3 object visible only once
//! complete), so `latest.ndjson` only ever holds rows that were delivered. A run that delivered
//! nothing writes nothing and leaves `latest.ndjson` as it was.

mod journal;
mod local;
mod s3;

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::error::Error;
use crate::location::{Location, Place};
use crate::s3::{S3Options, S3Uri};
use crate::time::Timestamp;
use crate::verdict::Verdict;

/// The name of the newest run's copy, under the location.
pub const LATEST: &str = "latest.ndjson";

/// Where the archive is kept.
#[derive(Debug, Clone)]
pub enum ArchiveConfig {
    Dir(PathBuf),
    S3 {
        bucket: String,
        /// Without leading or trailing `/`; empty for the bucket's root.
        prefix: String,
        options: S3Options,
    },
}

/// What one run's archiving did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Archiving {
    /// No archive is configured.
    #[default]
    Off,
    /// The run delivered no rows: nothing was written, `latest.ndjson` is the earlier run's.
    NothingNew,
    /// The run's rows were written.
    Written(Archived),
    /// The rows were delivered but not archived (why, scrubbed later with everything else).
    Failed(String),
}

/// A run's rows, archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    pub rows: u64,
    pub bytes: u64,
    /// The dated copy, as a path or an `s3://` URI.
    pub copy: String,
}

impl ArchiveConfig {
    /// A folder (a path or `file:///path`), or `s3://bucket/prefix` (the prefix may be empty).
    pub fn parse(text: &str, options: &S3Options) -> Result<ArchiveConfig, String> {
        Ok(match Location::parse(text, Place::FOLDER_OR_PREFIX)? {
            Location::Local(dir) => ArchiveConfig::Dir(dir),
            Location::S3(uri) => ArchiveConfig::S3 {
                bucket: uri.bucket,
                prefix: uri.key,
                options: options.clone(),
            },
            Location::Http(_) => unreachable!("FOLDER_OR_PREFIX takes no http URL"),
        })
    }

    /// Where `key` (a path under the location, such as [`LATEST`]) is: a path, or an `s3://`
    /// URI. A folder's is made absolute, so the admin page finds it from any directory.
    pub fn url_of(&self, key: &str) -> Location {
        match self {
            ArchiveConfig::Dir(dir) => {
                let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                Location::Local(dir.join(key))
            }
            ArchiveConfig::S3 { bucket, prefix, .. } => Location::S3(S3Uri {
                bucket: bucket.clone(),
                key: s3::object_key(prefix, key),
            }),
        }
    }

    /// Where the newest run's rows are: the status' `downloadUrl`.
    pub fn latest_url(&self) -> Location {
        self.url_of(LATEST)
    }

    /// For messages: the folder or the `s3://bucket/prefix`.
    pub fn describe(&self) -> String {
        match self {
            ArchiveConfig::Dir(dir) => dir.display().to_string(),
            ArchiveConfig::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// A folder that does not exist is a configuration error, found before anything is
    /// delivered.
    pub fn check_folder(&self) -> Result<(), Error> {
        if let ArchiveConfig::Dir(dir) = self
            && !dir.is_dir()
        {
            return Err(Error::config_fix(
                format!("the --archive-uri folder {} does not exist", dir.display()),
                "create it, or point --archive-uri (GUARDRAIL_EXPORT_ARCHIVE_URI) at an existing \
                 folder or an s3://bucket/prefix",
            ));
        }
        Ok(())
    }

    /// The spool for one run started at `started`, taken under the cursor's lock.
    pub fn spool(&self, started: Timestamp) -> Result<Spool, Error> {
        self.check_folder()?;
        if let ArchiveConfig::Dir(dir) = self {
            let (journal, file) =
                journal::Journal::create(dir, &dated_key(started)).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot create the archive's spool in {}: {e}",
                        dir.join(journal::SPOOL_DIR).display()
                    )
                })?;
            return Ok(Spool {
                file: Some(file),
                journal: Some(journal),
                ..Spool::off()
            });
        }
        let file = tempfile::tempfile().map_err(|e| {
            anyhow::anyhow!(
                "cannot create the archive's temporary file in {}: {e}",
                std::env::temp_dir().display()
            )
        })?;
        Ok(Spool {
            file: Some(file),
            ..Spool::off()
        })
    }

    /// Publishes what the runs that were stopped before publishing (killed, or whose archive
    /// could not be written) delivered, each as its own dated copy, oldest first, then
    /// `latest.ndjson`. Returns the rows published. Only a folder archive keeps such spools.
    pub async fn publish_left(&self) -> anyhow::Result<u64> {
        let ArchiveConfig::Dir(dir) = self else {
            return Ok(0);
        };
        let mut rows = 0;
        for left in journal::left(dir) {
            if left.mark.rows > 0 {
                let source = Delivered {
                    file: left.data.try_clone()?,
                    bytes: left.mark.bytes,
                };
                local::publish(dir, &left.copy, source).await?;
                tracing::info!(
                    "archived the {} rows a stopped run delivered, as {}",
                    left.mark.rows,
                    self.url_of(&left.copy)
                );
                rows += left.mark.rows;
            }
            for path in [&left.data_path, &left.mark_path] {
                std::fs::remove_file(path)?;
            }
        }
        let _ = std::fs::remove_dir(dir.join(journal::SPOOL_DIR));
        Ok(rows)
    }

    /// Writes what `spool` holds as delivered as the dated copy for a run started at `started`,
    /// then as `latest.ndjson`. Nothing when it holds no rows.
    pub async fn publish(&self, spool: &Spool, started: Timestamp) -> anyhow::Result<Archiving> {
        let Some(file) = spool.file.as_ref().filter(|_| spool.delivered.rows > 0) else {
            if let Some(journal) = &spool.journal {
                journal.remove();
            }
            return Ok(Archiving::NothingNew);
        };
        let copy = dated_key(started);
        let source = Delivered {
            file: file.try_clone()?,
            bytes: spool.delivered.bytes,
        };
        match self {
            ArchiveConfig::Dir(dir) => local::publish(dir, &copy, source).await?,
            ArchiveConfig::S3 {
                bucket,
                prefix,
                options,
            } => s3::publish(bucket, prefix, options, &copy, source).await?,
        }
        if let Some(journal) = &spool.journal {
            journal.remove();
        }
        Ok(Archiving::Written(Archived {
            rows: spool.delivered.rows,
            bytes: spool.delivered.bytes,
            copy: self.url_of(&copy).to_string(),
        }))
    }

    /// `check`: whether a copy could be written there now, without writing one.
    pub async fn check(&self) -> Verdict {
        let fix = "create the folder or bucket, or correct --archive-uri \
                   (GUARDRAIL_EXPORT_ARCHIVE_URI)";
        let probed = match self {
            ArchiveConfig::Dir(dir) => local::probe(dir),
            ArchiveConfig::S3 {
                bucket,
                prefix,
                options,
            } => s3::probe(bucket, prefix, options).await,
        };
        match probed {
            Ok(latest) => Verdict::Ok(format!(
                "{}: writable; {}",
                self.describe(),
                if latest {
                    format!("{LATEST} holds the last run that delivered rows")
                } else {
                    format!("no {LATEST} yet")
                }
            )),
            Err(e) => Verdict::problem(format!("{}: {e:#}", self.describe()), fix),
        }
    }
}

/// The dated copy of a run started at `started`: `runs/YYYY/MM/DD/YYYYMMDDTHHMMSS.ffffffZ.ndjson`
/// (UTC; the basic ISO 8601 form, which sorts by time and needs no `:` in a file name).
pub fn dated_key(started: Timestamp) -> String {
    let at = started.to_datetime();
    format!(
        "runs/{}/{}",
        at.format("%Y/%m/%d"),
        at.format("%Y%m%dT%H%M%S%.6fZ.ndjson")
    )
}

/// How far into the spool: bytes and rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    bytes: u64,
    rows: u64,
}

/// The run's batches in the order they were sent, and how many of them the sink acknowledged
/// durably. Without an archive it keeps nothing.
#[derive(Debug, Default)]
pub struct Spool {
    file: Option<File>,
    /// A folder archive's record of how far the spool was acknowledged.
    journal: Option<journal::Journal>,
    written: Mark,
    /// Acknowledged durably: what the archive gets.
    delivered: Mark,
    /// Acknowledged until the sink finishes.
    accepted: Mark,
}

impl Spool {
    /// A spool that keeps nothing.
    pub fn off() -> Spool {
        Spool::default()
    }

    /// Appends a batch about to be sent; its mark says where it ends.
    pub fn append(&mut self, ndjson: &[u8], rows: u64) -> Result<Mark, Error> {
        if let Some(file) = &mut self.file {
            file.write_all(ndjson).map_err(|e| {
                anyhow::anyhow!(
                    "cannot keep the batch for the archive in a temporary file in {}: {e}; \
                     nothing more was sent",
                    std::env::temp_dir().display()
                )
            })?;
        }
        self.written = Mark {
            bytes: self.written.bytes + ndjson.len() as u64,
            rows: self.written.rows + rows,
        };
        Ok(self.written)
    }

    /// The batch ending at `mark` is delivered (acknowledged durably). Acknowledgements come
    /// in the order the batches were appended.
    pub fn delivered(&mut self, mark: Mark) {
        self.delivered = mark;
        if let Some(journal) = &mut self.journal {
            journal.record(mark);
        }
    }

    /// The batch ending at `mark` was accepted, to be delivered when the sink finishes.
    pub fn accepted(&mut self, mark: Mark) {
        self.accepted = mark;
    }

    /// The sink finished: what it accepted is delivered.
    pub fn finished(&mut self) {
        if self.accepted.bytes > self.delivered.bytes {
            self.delivered(self.accepted);
        }
    }

    /// Rows delivered so far.
    pub fn delivered_rows(&self) -> u64 {
        self.delivered.rows
    }
}

/// The first `bytes` bytes of the spool's file: what is published.
struct Delivered {
    file: File,
    bytes: u64,
}

impl Delivered {
    /// The file, at its start, limited to the delivered bytes.
    fn reader(&self) -> std::io::Result<std::io::Take<File>> {
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(std::io::Read::take(file, self.bytes))
    }
}

#[cfg(test)]
mod tests;
