//! Cursor stores: where the cursor lives between runs.
//!
//! A [`CursorLocation`] is a store as configured (a file path, an S3 object); opening it takes
//! its lock and gives a [`CursorStore`], which the run loads once and saves after every batch
//! the sink made durable, so a stored cursor never claims more than was delivered.
//!
//! To add a store: implement both traits in a module here, and construct its location where
//! `--cursor-store` is read (`src/cli/export.rs`, `CursorStoreArgs::config`).

mod file;
#[cfg(test)]
mod memory;
mod s3;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::cursor::{CursorState, parse};
use crate::error::{Error, describe_filter};
use crate::verdict::Verdict;

pub use file::{FileLocation, lock_path};
#[cfg(test)]
pub use memory::MemoryLocation;
pub use s3::S3Location;

/// Where a cursor is kept, as configured.
pub type CursorStoreConfig = Arc<dyn CursorLocation>;

/// A cursor store as configured, before it is opened.
#[async_trait]
pub trait CursorLocation: Debug + Send + Sync {
    /// Opens the store and takes its lock, failing with [`Error::Locked`] when another run
    /// holds it. The lock lasts until [`CursorStore::close`] (or the process ends).
    async fn open(&self) -> Result<Box<dyn CursorStore>, Error>;

    /// The stored bytes, read without taking the lock (for inspection while an export may be
    /// running); `None` when nothing is stored yet.
    async fn read(&self) -> Result<Option<Vec<u8>>, Error>;

    /// Removes a lock left by a run that is gone; says what was done.
    async fn unlock(&self, force: bool) -> Result<String, Error>;

    /// Writes and removes a probe beside the cursor, leaving the cursor itself untouched.
    async fn probe_write(&self) -> anyhow::Result<()>;

    /// Where the cursor lives, for messages.
    fn describe(&self) -> String;

    /// Whether anything is kept at all (`--cursor-store none` keeps nothing).
    fn keeps_state(&self) -> bool {
        true
    }

    /// `check`: the stored cursor is readable, bound to this run's provider filter, and the
    /// store is writable.
    async fn check(&self, provider_id: Option<&str>) -> Verdict {
        check_store(self, provider_id).await
    }
}

/// An open cursor store, holding its lock.
///
/// The contract: [`CursorStore::save`] is atomic and durable — once it returns `Ok`, a crash
/// or a concurrent reader sees this state or a later one, never a mix or an older one — and it
/// fails rather than overwrite a state another run wrote while this one held the lock.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// Reads the stored state (`None` when nothing is stored yet).
    async fn load(&mut self) -> Result<Option<CursorState>, Error>;

    /// Stores the state after `run_rows` rows were delivered in this run.
    async fn save(&mut self, state: &CursorState, run_rows: u64) -> Result<(), Error>;

    /// Fails when the lock can no longer be trusted (an S3 lease that could not be renewed):
    /// the run must not deliver anything more.
    async fn healthy(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Releases the lock.
    async fn close(self: Box<Self>) {}

    /// Where the cursor lives, for messages.
    fn describe(&self) -> String;
}

/// Opens the store, runs `work` while holding its lock, and releases the lock, whatever
/// `work` returned.
pub async fn with_lock<T, L: CursorLocation + ?Sized>(
    location: &L,
    work: impl AsyncFnOnce(&mut (dyn CursorStore + 'static)) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut store = location.open().await?;
    let result = work(&mut *store).await;
    store.close().await;
    result
}

/// Reads the stored state and its raw text without taking the lock.
pub async fn peek(location: &dyn CursorLocation) -> Result<Option<(CursorState, String)>, Error> {
    let Some(bytes) = location.read().await? else {
        return Ok(None);
    };
    let state = parse(&bytes).map_err(|reason| Error::CorruptCursor {
        path: location.describe(),
        reason,
    })?;
    Ok(Some((
        state,
        String::from_utf8_lossy(&bytes).trim().to_owned(),
    )))
}

/// `--cursor-store none`: nothing is kept, every run starts from `--cursor` or the beginning.
#[derive(Debug, Clone, Copy)]
pub struct NoStore;

#[async_trait]
impl CursorLocation for NoStore {
    async fn open(&self) -> Result<Box<dyn CursorStore>, Error> {
        Ok(Box::new(NoStore))
    }

    async fn read(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(None)
    }

    async fn unlock(&self, _force: bool) -> Result<String, Error> {
        Ok("no cursor store: nothing to unlock".into())
    }

    async fn probe_write(&self) -> anyhow::Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "no cursor store".into()
    }

    fn keeps_state(&self) -> bool {
        false
    }

    async fn check(&self, _provider_id: Option<&str>) -> Verdict {
        Verdict::Ok("none: every run starts from --cursor or the beginning".into())
    }
}

#[async_trait]
impl CursorStore for NoStore {
    async fn load(&mut self) -> Result<Option<CursorState>, Error> {
        Ok(None)
    }

    async fn save(&mut self, _state: &CursorState, _run_rows: u64) -> Result<(), Error> {
        Ok(())
    }

    fn describe(&self) -> String {
        "no cursor store".into()
    }
}

/// What `check` says about a store that keeps a cursor.
async fn check_store<L: CursorLocation + ?Sized>(
    location: &L,
    provider_id: Option<&str>,
) -> Verdict {
    // Not `with_lock`: this future must be `Send` for the trait's default method, which an
    // async closure borrowing the store cannot promise yet.
    let mut store = match location.open().await {
        Ok(store) => store,
        Err(e) => return Verdict::from_error(&e, "see the problem above"),
    };
    let name = store.describe();
    let verdict = match store.load().await {
        Err(e) => Verdict::from_error(&e, "see the problem above"),
        Ok(Some(state)) if !state.legacy && state.provider_id.as_deref() != provider_id => {
            Verdict::problem(
                format!(
                    "{name} belongs to {}, not {}",
                    describe_filter(state.provider_id.as_deref()),
                    describe_filter(provider_id)
                ),
                "use a separate cursor per --provider-id, or `guardrail-followups cursor reset`",
            )
        }
        Ok(state) => match location.probe_write().await {
            Ok(()) => Verdict::Ok(format!(
                "{name}: readable ({}), writable",
                match state.and_then(|s| s.position) {
                    Some(p) => format!("cursor {}", p.created_at),
                    None => "no cursor yet".into(),
                }
            )),
            Err(e) => Verdict::problem(
                format!("{name} is not writable: {e:#}"),
                "give the export's user write access to it (folder permissions, or \
                 s3:PutObject/DeleteObject on the key)",
            ),
        },
    };
    store.close().await;
    verdict
}
