//! The S3 cursor store. Two runs must never advance one cursor, so a run first takes a lease:
//! the object `<key>.lock`, created only if absent (`If-None-Match: *`). A lease names its owner
//! and expires, so a crashed run blocks others only until then (`--cursor-lease-seconds`). A
//! background task renews it every third of its length while the run lives, whatever the run is
//! waiting for; a lease that could not be renewed stops the run before it delivers anything
//! more. Every cursor write is also conditional on the version this run last saw (`If-Match`),
//! so even a run whose lease was taken over cannot move the cursor again.

mod lease;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::{CursorLocation, CursorStore};
use crate::cursor::{CursorState, parse, render};
use crate::error::Error;
use crate::s3::{S3Options, S3Uri, open_bucket};
use crate::time::Timestamp;

/// `--cursor-store s3`: the object at `--cursor-store-uri`, leased while a run holds it.
#[derive(Debug, Clone)]
pub struct S3Location {
    pub uri: S3Uri,
    pub options: S3Options,
    /// How long the lease lasts without renewal.
    pub lease: Duration,
}

#[async_trait]
impl CursorLocation for S3Location {
    async fn open(&self) -> Result<Box<dyn CursorStore>, Error> {
        Ok(Box::new(
            S3Store::open(&self.uri, &self.options, self.lease).await?,
        ))
    }

    async fn read(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(read(&self.uri, &self.options).await?.map(|b| b.to_vec()))
    }

    async fn unlock(&self, force: bool) -> Result<String, Error> {
        lease::unlock(&self.uri, &self.options, force).await
    }

    async fn probe_write(&self) -> anyhow::Result<()> {
        let store = open_bucket(&self.uri.bucket, &self.options)?;
        let probe = ObjectPath::from(format!("{}.check", self.uri.key));
        store
            .put(&probe, Bytes::from_static(b"check\n").into())
            .await?;
        store.delete(&probe).await?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.uri.to_string()
    }
}

#[derive(Debug)]
struct S3Store {
    store: Arc<dyn ObjectStore>,
    uri: S3Uri,
    path: ObjectPath,
    lock: ObjectPath,
    /// The cursor object's version this run last read or wrote; `None` when it does not exist.
    version: Option<UpdateVersion>,
    owner: String,
    lease: Arc<tokio::sync::Mutex<lease::LeaseState>>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for S3Store {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl S3Store {
    async fn open(uri: &S3Uri, options: &S3Options, duration: Duration) -> Result<S3Store, Error> {
        let store = open_bucket(&uri.bucket, options)?;
        let path = ObjectPath::from(uri.key.as_str());
        let lock = ObjectPath::from(format!("{}.lock", uri.key));
        let owner = uuid::Uuid::new_v4().to_string();
        let version = lease::acquire(&*store, &lock, &owner, uri, duration).await?;
        let lease = Arc::new(tokio::sync::Mutex::new(lease::LeaseState {
            version,
            lost: None,
        }));
        let renewer = tokio::spawn(lease::renew_while_alive(
            store.clone(),
            lock.clone(),
            owner.clone(),
            uri.clone(),
            duration,
            lease.clone(),
        ));
        Ok(S3Store {
            store,
            uri: uri.clone(),
            path,
            lock,
            version: None,
            owner,
            lease,
            renewer,
        })
    }

    /// Deletes the lease if it is still this run's.
    async fn release(self) {
        self.renewer.abort();
        let read = async { self.store.get(&self.lock).await?.bytes().await };
        let problem = match read.await {
            Ok(bytes) => match serde_json::from_slice::<lease::Lease>(&bytes) {
                Ok(lease) if lease.owner == self.owner => self
                    .store
                    .delete(&self.lock)
                    .await
                    .err()
                    .map(|e| format!("could not delete it ({e})")),
                _ => Some("it is no longer this run's, so it was left as it is".into()),
            },
            Err(object_store::Error::NotFound { .. }) => {
                Some("it was already gone (taken over and released?)".into())
            }
            Err(e) => Some(format!("could not read it ({e})")),
        };
        if let Some(problem) = problem {
            tracing::warn!(
                "releasing the lease {}.lock: {problem}; a lease expires by itself",
                self.uri
            );
        }
    }
}

#[async_trait]
impl CursorStore for S3Store {
    /// Fails once the lease could not be renewed.
    async fn healthy(&self) -> Result<(), Error> {
        match &self.lease.lock().await.lost {
            Some(why) => Err(anyhow::anyhow!("{why}").into()),
            None => Ok(()),
        }
    }

    fn describe(&self) -> String {
        self.uri.to_string()
    }

    async fn load(&mut self) -> Result<Option<CursorState>, Error> {
        let result = match self.store.get(&self.path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                self.version = None;
                return Ok(None);
            }
            Err(e) => {
                return Err(anyhow::anyhow!("cannot read the S3 cursor {}: {e}", self.uri).into());
            }
        };
        let version = UpdateVersion {
            e_tag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
        };
        let bytes = result
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the S3 cursor {}: {e}", self.uri))?;
        // Known even when the content is unusable, so that --reset-cursor can replace it.
        self.version = Some(version);
        let state = parse(&bytes).map_err(|reason| Error::CorruptCursor {
            path: self.uri.to_string(),
            reason,
        })?;
        Ok(Some(state))
    }

    async fn save(&mut self, state: &CursorState, run_rows: u64) -> Result<(), Error> {
        self.healthy().await?;
        let mode = match self.version.clone() {
            Some(version) => PutMode::Update(version),
            None => PutMode::Create,
        };
        let body = render(state, run_rows, Timestamp::now());
        let result = self
            .store
            .put_opts(
                &self.path,
                PutPayload::from(Bytes::from(body)),
                PutOptions::from(mode),
            )
            .await;
        match result {
            Ok(put) => {
                self.version = Some(UpdateVersion {
                    e_tag: put.e_tag,
                    version: put.version,
                });
                Ok(())
            }
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(anyhow::anyhow!(
                "the S3 cursor {} was changed by another run while this one held the lock; \
                     stopping so that nothing is delivered twice. Check for overlapping schedules",
                self.uri
            )
            .into()),
            Err(e) => Err(anyhow::anyhow!("cannot write the S3 cursor {}: {e}", self.uri).into()),
        }
    }

    async fn close(self: Box<Self>) {
        (*self).release().await;
    }
}

/// The cursor object's bytes, without taking the lease; `None` when it does not exist.
async fn read(uri: &S3Uri, options: &S3Options) -> Result<Option<Bytes>, Error> {
    let store = open_bucket(&uri.bucket, options)?;
    let path = ObjectPath::from(uri.key.as_str());
    let read = async { store.get(&path).await?.bytes().await };
    match read.await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read the S3 cursor {uri}: {e}").into()),
    }
}
