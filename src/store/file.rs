//! The cursor file store: a local JSON file, locked against concurrent runs, written atomically.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{CursorLocation, CursorStore};
use crate::cursor::{CursorState, parse, render};
use crate::error::Error;
use crate::fs::{Readers, write_atomically};
use crate::time::Timestamp;

/// The fix when the cursor's folder cannot be written.
const WRITABLE_FOLDER: &str =
    "choose a --cursor-store-path in a folder the export's user can write";

/// `--cursor-store file`: a JSON file at `--cursor-store-path`.
#[derive(Debug, Clone)]
pub struct FileLocation {
    pub path: PathBuf,
}

#[async_trait]
impl CursorLocation for FileLocation {
    async fn open(&self) -> Result<Box<dyn CursorStore>, Error> {
        Ok(Box::new(FileStore::open(&self.path)?))
    }

    async fn read(&self) -> Result<Option<Vec<u8>>, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::config(format!(
                "cannot read the cursor file {}: {e}",
                self.path.display()
            ))),
        }
    }

    async fn unlock(&self, _force: bool) -> Result<String, Error> {
        Ok(format!(
            "{} is locked by the running process only, and the kernel releases the lock when \
             that process ends (even on a crash): nothing to unlock",
            self.path.display()
        ))
    }

    async fn probe_write(&self) -> anyhow::Result<()> {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".check");
        let probe = self.path.with_file_name(name);
        write_atomically(&probe, b"check\n", Readers::Owner)?;
        std::fs::remove_file(&probe)?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

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
    pub fn open(path: &Path) -> Result<FileStore, Error> {
        let lock_path = lock_path(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::config_fix(
                    format!("cannot create the cursor folder {}: {e}", dir.display()),
                    WRITABLE_FOLDER,
                )
            })?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                Error::config_fix(
                    format!("cannot open the cursor lock {}: {e}", lock_path.display()),
                    WRITABLE_FOLDER,
                )
            })?;
        match lock.try_lock() {
            Ok(()) => Ok(FileStore {
                path: path.to_owned(),
                _lock: lock,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
                message: format!(
                    "another export is running on the cursor {} (it holds {}); \
                     wait for it to finish — runs on one cursor never overlap",
                    path.display(),
                    lock_path.display()
                ),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::config(format!(
                "cannot lock {}: {e}",
                lock_path.display()
            ))),
        }
    }
}

#[async_trait]
impl CursorStore for FileStore {
    async fn load(&mut self) -> Result<Option<CursorState>, Error> {
        let location = FileLocation {
            path: self.path.clone(),
        };
        let Some(bytes) = location.read().await? else {
            return Ok(None);
        };
        parse(&bytes)
            .map(Some)
            .map_err(|reason| Error::CorruptCursor {
                path: self.path.display().to_string(),
                reason,
            })
    }

    async fn save(&mut self, state: &CursorState, run_rows: u64) -> Result<(), Error> {
        let text = render(state, run_rows, Timestamp::now());
        write_atomically(&self.path, text.as_bytes(), Readers::Owner).map_err(|e| Error::Runtime {
            source: anyhow::anyhow!("cannot write the cursor file {}: {e}", self.path.display()),
        })
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// The lock file that guards a cursor file.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}
