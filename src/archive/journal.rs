//! A folder archive's spool kept where a killed run leaves it: `<archive>/.spool/<stem>.ndjson`
//! holds the batches as they are sent, `<stem>.mark` how far they were acknowledged (bytes,
//! rows, and the dated copy they belong to). The mark is rewritten before the cursor moves over
//! a batch, so it never lags the cursor. A run that ends publishes its own spool and removes
//! it; the next run on the folder publishes, under the cursor's lock, whatever spool a killed
//! run left, as that run's dated copy. The data file is locked while its run lives, so a spool
//! of a run still going (another cursor sharing the folder) is never taken.
//!
//! The files survive a killed process (the page cache keeps them); a power loss may lose the
//! last batches' copy, which the lake still holds.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::Mark;

/// The folder of the spools, under the archive's folder.
pub const SPOOL_DIR: &str = ".spool";

/// One run's spool files.
#[derive(Debug)]
pub struct Journal {
    data: PathBuf,
    mark: PathBuf,
    mark_file: File,
    /// The dated copy the rows belong to.
    copy: String,
    /// Set once a mark could not be written: warned once, then left alone.
    broken: bool,
}

impl Journal {
    /// Creates the spool of a run whose dated copy is `copy`, locked for as long as the
    /// returned data file is open.
    pub fn create(archive: &Path, copy: &str) -> std::io::Result<(Journal, File)> {
        let dir = archive.join(SPOOL_DIR);
        std::fs::create_dir_all(&dir)?;
        let stem = copy
            .rsplit('/')
            .next()
            .unwrap_or(copy)
            .trim_end_matches(".ndjson");
        let data_path = dir.join(format!("{stem}.ndjson"));
        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&data_path)?;
        data.try_lock()
            .map_err(|e| std::io::Error::other(format!("{}: {e}", data_path.display())))?;
        let mark_path = dir.join(format!("{stem}.mark"));
        let mark_file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&mark_path)?;
        let mut journal = Journal {
            data: data_path,
            mark: mark_path,
            mark_file,
            copy: copy.to_owned(),
            broken: false,
        };
        journal.record(Mark::default());
        Ok((journal, data))
    }

    /// Records that the spool's first `mark.bytes` bytes were acknowledged.
    pub fn record(&mut self, mark: Mark) {
        if self.broken {
            return;
        }
        // Fixed width, written in place: a reader sees the old mark or the new one.
        let line = format!("{:020} {:020} {}\n", mark.bytes, mark.rows, self.copy);
        if let Err(e) = self.mark_file.write_all_at(line.as_bytes(), 0) {
            self.broken = true;
            tracing::warn!(
                "cannot record the archive's progress in {}: {e}; if this run is killed, the \
                 next one cannot archive what it delivered (the lake has it)",
                self.mark.display()
            );
        }
    }

    /// The run published its rows: its spool goes (and the spool folder, once empty).
    pub fn remove(&self) {
        for path in [&self.data, &self.mark] {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!("cannot remove the archive spool {}: {e}", path.display());
            }
        }
        let _ = std::fs::remove_dir(crate::fs::folder_of(&self.data));
    }
}

/// A spool a stopped run left: its data file (locked now by this run), how far it was
/// acknowledged, and its dated copy.
#[derive(Debug)]
pub struct Left {
    pub data: File,
    pub data_path: PathBuf,
    pub mark_path: PathBuf,
    pub mark: Mark,
    pub copy: String,
}

/// The spools stopped runs left in `archive`, oldest first; spools still locked by their run
/// are left alone, and unreadable marks are reported and skipped.
pub fn left(archive: &Path) -> Vec<Left> {
    let dir = archive.join(SPOOL_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut marks: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "mark"))
        .collect();
    marks.sort();
    let mut found = Vec::new();
    for mark_path in marks {
        let data_path = mark_path.with_extension("ndjson");
        let Ok(data) = File::open(&data_path) else {
            // A mark without data: nothing was spooled.
            let _ = std::fs::remove_file(&mark_path);
            continue;
        };
        if data.try_lock().is_err() {
            continue; // its run is still going
        }
        let parsed = std::fs::read_to_string(&mark_path)
            .ok()
            .and_then(|text| parse_mark(&text));
        match parsed {
            Some((mark, copy)) => found.push(Left {
                data,
                data_path,
                mark_path,
                mark,
                copy,
            }),
            None => tracing::warn!(
                "the archive spool mark {} cannot be read; its rows are not archived (the lake \
                 has them); remove it and {} once you have looked",
                mark_path.display(),
                data_path.display()
            ),
        }
    }
    found
}

fn parse_mark(text: &str) -> Option<(Mark, String)> {
    let mut words = text.split_whitespace();
    let bytes = words.next()?.parse().ok()?;
    let rows = words.next()?.parse().ok()?;
    let copy = words.next()?.to_owned();
    copy.starts_with("runs/")
        .then_some((Mark { bytes, rows }, copy))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write;

    #[test]
    fn a_mark_round_trips_and_a_live_spool_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let copy = "runs/2026/01/02/20260102T030405.000006Z.ndjson";
        let (mut journal, mut data) = Journal::create(dir.path(), copy).unwrap();
        data.write_all(b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        journal.record(Mark { bytes: 8, rows: 1 });
        // Its run still holds it.
        assert!(left(dir.path()).is_empty());
        drop(data);
        let found = left(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].mark, Mark { bytes: 8, rows: 1 });
        assert_eq!(found[0].copy, copy);
        journal.remove();
        drop(found);
        assert!(left(dir.path()).is_empty());
    }
}
