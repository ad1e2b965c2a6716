//! A lake in memory, for tests: puts land in a map that the test reads back, and a switch
//! makes every put and check fail as a lake that cannot be written would.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::gateway::lake::{LakeStore, Put, PutError, compare_existing};

#[derive(Debug, Default)]
pub struct MemoryLake {
    objects: Mutex<BTreeMap<String, Bytes>>,
    failing: AtomicBool,
}

impl MemoryLake {
    /// The stored objects by key, in key order.
    pub fn objects(&self) -> BTreeMap<String, Bytes> {
        self.objects.lock().expect("not poisoned").clone()
    }

    /// From now on every put and check fails (`true`) or works again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn writable(&self) -> anyhow::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            anyhow::bail!("the in-memory lake is set to fail");
        }
        Ok(())
    }
}

impl LakeStore for MemoryLake {
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<Put, PutError>> {
        Box::pin(async move {
            self.writable()?;
            // One look and insert under the lock: a reader sees no object or all of it.
            let mut objects = self.objects.lock().expect("not poisoned");
            if let Some(stored) = objects.get(key) {
                return compare_existing(key, stored, &bytes);
            }
            objects.insert(key.to_owned(), bytes);
            Ok(Put::Stored)
        })
    }

    fn check(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { self.writable() })
    }

    fn prepare(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
