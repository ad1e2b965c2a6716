//! The cursor file store: a local JSON file, locked against concurrent runs, written atomically.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{CursorState, parse, render};
use crate::error::ExportError;
use crate::row::Timestamp;

/// A cursor file, locked for the lifetime of the store, written atomically.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    /// Held open for its advisory lock; released when the store is dropped.
    _lock: File,
}

impl FileStore {
    /// Takes the lock `<path>.lock` beside the cursor file, failing at once if another run
    /// holds it. The lock file itself is left in place: removing it would let two runs lock
    /// two different files.
    pub fn open(path: &Path) -> Result<FileStore, ExportError> {
        let lock_path = lock_path(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ExportError::Config {
                message: format!(
                    "cannot create the cursor folder {}: {e}. Fix: choose a --cursor-store-path in a folder the export's user can write",
                    dir.display()
                ),
            })?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| ExportError::Config {
                message: format!(
                    "cannot open the cursor lock {}: {e}. Fix: choose a --cursor-store-path in a folder the export's user can write",
                    lock_path.display()
                ),
            })?;
        match lock.try_lock() {
            Ok(()) => Ok(FileStore {
                path: path.to_owned(),
                _lock: lock,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(ExportError::Locked {
                message: format!(
                    "another export is running on the cursor {} (it holds {}); \
                     wait for it to finish — runs on one cursor never overlap",
                    path.display(),
                    lock_path.display()
                ),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(ExportError::Config {
                message: format!("cannot lock {}: {e}", lock_path.display()),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn load(&self) -> Result<Option<CursorState>, ExportError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ExportError::Config {
                    message: format!("cannot read the cursor file {}: {e}", self.path.display()),
                });
            }
        };
        parse(&bytes)
            .map(Some)
            .map_err(|reason| ExportError::CorruptCursor {
                path: self.path.display().to_string(),
                reason,
            })
    }

    pub(super) fn save(&mut self, state: &CursorState, run_rows: u64) -> Result<(), ExportError> {
        let text = render(state, run_rows, Timestamp::now());
        write_atomically(&self.path, text.as_bytes(), Readers::Owner).map_err(|e| {
            ExportError::Runtime {
                source: anyhow::anyhow!(
                    "cannot write the cursor file {}: {e}",
                    self.path.display()
                ),
            }
        })
    }
}

/// The lock file that guards a cursor file.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Who may read a file written by [`write_atomically`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Its owner only (0600): the cursor, dead letters.
    Owner,
    /// As the umask allows (0644 by default): files meant for others, such as the status.
    Umask,
}

/// A builder of temporary files named `<prefix><random><suffix>`, created 0600 or, for
/// [`Readers::Umask`], as the umask allows.
pub fn temp_file<'a>(
    prefix: &'a str,
    suffix: &'a str,
    readers: Readers,
) -> tempfile::Builder<'a, 'a> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(suffix);
    #[cfg(unix)]
    if readers == Readers::Umask {
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    }
    builder
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees the old file or the new one,
/// never a mix: write a temporary file beside it, fsync, rename over, fsync the folder.
pub fn write_atomically(path: &Path, bytes: &[u8], readers: Readers) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = temp_file(".guardrail-", ".tmp", readers).tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
