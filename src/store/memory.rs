//! An in-memory cursor store, for tests of the run: it keeps the rendered cursor file (so the
//! format is exercised too), records every save, honours the lock, and can be told to fail.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{CursorLocation, CursorStore};
use crate::cursor::{CursorState, parse, render};
use crate::error::Error;
use crate::time::Timestamp;

#[derive(Debug, Clone, Default)]
pub struct MemoryLocation {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    bytes: Option<Vec<u8>>,
    locked: bool,
    /// Every state saved, in order.
    saves: Vec<CursorState>,
    /// Saves that succeed before every further one fails.
    fail_after: Option<usize>,
}

impl MemoryLocation {
    pub fn holding(bytes: &[u8]) -> MemoryLocation {
        let location = MemoryLocation::default();
        location.inner().bytes = Some(bytes.to_vec());
        location
    }

    /// The stored state, as the next run would read it.
    pub fn stored(&self) -> Option<CursorState> {
        let bytes = self.inner().bytes.clone()?;
        Some(parse(&bytes).expect("the memory store holds what render wrote"))
    }

    /// Every state saved so far, in order.
    pub fn saves(&self) -> Vec<CursorState> {
        self.inner().saves.clone()
    }

    /// Lets `saves` more saves succeed, then fails every further one.
    pub fn fail_saves_after(&self, saves: usize) {
        let mut inner = self.inner();
        inner.fail_after = Some(inner.saves.len() + saves);
    }

    pub fn lock(&self) {
        self.inner().locked = true;
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl CursorLocation for MemoryLocation {
    async fn open(&self) -> Result<Box<dyn CursorStore>, Error> {
        let mut inner = self.inner();
        if inner.locked {
            return Err(Error::Locked {
                message: "another export is running on the in-memory cursor".into(),
            });
        }
        inner.locked = true;
        Ok(Box::new(MemoryStore {
            location: self.clone(),
        }))
    }

    async fn read(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.inner().bytes.clone())
    }

    async fn unlock(&self, _force: bool) -> Result<String, Error> {
        self.inner().locked = false;
        Ok("unlocked".into())
    }

    async fn probe_write(&self) -> anyhow::Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

#[derive(Debug)]
struct MemoryStore {
    location: MemoryLocation,
}

#[async_trait]
impl CursorStore for MemoryStore {
    async fn load(&mut self) -> Result<Option<CursorState>, Error> {
        let bytes = self.location.inner().bytes.clone();
        bytes
            .map(|bytes| {
                parse(&bytes).map_err(|reason| Error::CorruptCursor {
                    path: "memory".into(),
                    reason,
                })
            })
            .transpose()
    }

    async fn save(&mut self, state: &CursorState, run_rows: u64) -> Result<(), Error> {
        let mut inner = self.location.inner();
        if inner.fail_after.is_some_and(|n| inner.saves.len() >= n) {
            return Err(anyhow::anyhow!("the in-memory cursor refuses to save").into());
        }
        inner.bytes = Some(render(state, run_rows, Timestamp::now()).into_bytes());
        inner.saves.push(state.clone());
        Ok(())
    }

    async fn close(self: Box<Self>) {
        self.location.inner().locked = false;
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
