//! Durable file writes, the one way every part of the program replaces a file: a temporary
//! file beside (or staged for) the target, written, fsynced, renamed over the target, and the
//! target's folder fsynced — so a reader or a crash sees the old file or the new one, never a
//! mix, and a rename that returned survives a power cut.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// Who may read a file written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Its owner only (0600): the cursor, dead letters.
    Owner,
    /// As the umask allows (0644 by default): files meant for others, such as the status.
    Umask,
}

/// A file that replaces `target` only when [`AtomicFile::commit`] succeeds; dropped before
/// that, it is removed and `target` is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    temp: NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// A temporary file `<prefix><random><suffix>` beside `target`.
    pub fn beside(
        target: &Path,
        prefix: &str,
        suffix: &str,
        readers: Readers,
    ) -> std::io::Result<AtomicFile> {
        AtomicFile::staged_in(folder_of(target), target, prefix, suffix, readers)
    }

    /// A temporary file in `staging`, which must be on the same file system as `target`.
    pub fn staged_in(
        staging: &Path,
        target: &Path,
        prefix: &str,
        suffix: &str,
        readers: Readers,
    ) -> std::io::Result<AtomicFile> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(prefix).suffix(suffix);
        #[cfg(unix)]
        if readers == Readers::Umask {
            builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        }
        Ok(AtomicFile {
            temp: builder.tempfile_in(staging)?,
            target: target.to_owned(),
        })
    }

    /// Where the bytes are written until the commit.
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// fsync, then move into place only if the target does not exist, fsync the target's
    /// folder. `Ok(false)` when the target exists: it is left as it is and this file removed.
    pub fn commit_new(self) -> std::io::Result<bool> {
        let AtomicFile { temp, target } = self;
        temp.as_file().sync_all()?;
        match temp.persist_noclobber(&target) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(e.error),
        }
        sync_dir(folder_of(&target))?;
        Ok(true)
    }

    /// fsync, rename over the target, fsync the target's folder.
    pub fn commit(self) -> std::io::Result<()> {
        let AtomicFile { temp, target } = self;
        temp.as_file().sync_all()?;
        temp.persist(&target).map_err(|e| e.error)?;
        sync_dir(folder_of(&target))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.temp.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.temp.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

/// Replaces `path` with `bytes`, durably and atomically.
pub fn write_atomically(path: &Path, bytes: &[u8], readers: Readers) -> std::io::Result<()> {
    let mut file = AtomicFile::beside(path, ".guardrail-", ".tmp", readers)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Makes a rename or a new entry in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `folder` and any missing parents up to `root`, fsyncing the parent of each folder
/// created so that the new entries survive a crash along with the files written into them.
pub fn create_dirs_durably(root: &Path, folder: &Path) -> std::io::Result<()> {
    if folder.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut current = folder;
    while !current.is_dir() {
        missing.push(current);
        match current.parent() {
            Some(parent) if current != root && !parent.as_os_str().is_empty() => current = parent,
            _ => break,
        }
    }
    for dir in missing.into_iter().rev() {
        match std::fs::create_dir(dir) {
            Ok(()) => {}
            // Someone else (another request for the same day) created it first.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => continue,
            Err(e) => return Err(e),
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// The folder a path is in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Whether a file could be written at `path` now, as the run writes it: the nearest folder of it
/// that exists (the run creates the rest) takes a new file. Proved by creating and removing one.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let mut folder = folder_of(path);
    while !folder.exists() {
        match folder.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => folder = parent,
            _ => {
                folder = Path::new(".");
                break;
            }
        }
    }
    if !folder.is_dir() {
        return Err(format!("{} is a file, not a folder", folder.display()));
    }
    // Removed again when dropped.
    tempfile::Builder::new()
        .prefix(".guardrail-check-")
        .tempfile_in(folder)
        .map(drop)
        .map_err(|e| format!("cannot create a file in {}: {e}", folder.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncommitted_file_leaves_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        std::fs::write(&target, b"old").unwrap();
        let mut file = AtomicFile::beside(&target, ".t-", ".tmp", Readers::Owner).unwrap();
        file.write_all(b"new").unwrap();
        drop(file);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomically(&target, b"new", Readers::Owner).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn missing_folders_are_created_up_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a/b/c");
        create_dirs_durably(dir.path(), &folder).unwrap();
        assert!(folder.is_dir());
    }
}
