//! The S3 cursor store. Two runs must never advance one cursor, so a run first takes a lease:
//! the object `<key>.lock`, created only if absent (`If-None-Match: *`). A lease names its owner
//! and expires, so a crashed run blocks others for at most [`LEASE`]; it is renewed as the run
//! saves. Every cursor write is also conditional on the version this run last saw
//! (`If-Match`), so even a run whose lease was taken over cannot move the cursor again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::{CursorState, parse, render};
use crate::error::ExportError;
use crate::row::Timestamp;
use crate::s3::{S3Options, S3Uri, open_bucket};

/// How long a lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(15 * 60);
/// Renew the lease when it is older than this at a save.
const RENEW_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lease {
    owner: String,
    host: String,
    pid: u32,
    started_at: String,
    expires_at: String,
}

#[derive(Debug)]
pub struct S3Store {
    store: Arc<dyn ObjectStore>,
    uri: S3Uri,
    path: ObjectPath,
    lock: ObjectPath,
    /// The cursor object's version this run last read or wrote; `None` when it does not exist.
    version: Option<UpdateVersion>,
    owner: String,
    lease_version: UpdateVersion,
    lease_renewed: Instant,
}

impl S3Store {
    pub async fn open(uri: &S3Uri, options: &S3Options) -> Result<S3Store, ExportError> {
        let store = open_bucket(&uri.bucket, options)?;
        let path = ObjectPath::from(uri.key.as_str());
        let lock = ObjectPath::from(format!("{}.lock", uri.key));
        let owner = uuid::Uuid::new_v4().to_string();
        let lease_version = acquire(&*store, &lock, &owner, uri).await?;
        Ok(S3Store {
            store,
            uri: uri.clone(),
            path,
            lock,
            version: None,
            owner,
            lease_version,
            lease_renewed: Instant::now(),
        })
    }

    pub fn describe(&self) -> String {
        self.uri.to_string()
    }

    pub(super) async fn load(&mut self) -> Result<Option<CursorState>, ExportError> {
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
        let state = parse(&bytes).map_err(|reason| ExportError::CorruptCursor {
            path: self.uri.to_string(),
            reason,
        })?;
        Ok(Some(state))
    }

    pub(super) async fn save(
        &mut self,
        state: &CursorState,
        run_rows: u64,
    ) -> Result<(), ExportError> {
        if self.lease_renewed.elapsed() >= RENEW_AFTER {
            self.renew().await?;
        }
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

    /// Extends the lease; fails if another run took it over.
    async fn renew(&mut self) -> Result<(), ExportError> {
        let body = lease_body(&self.owner);
        let mode = PutMode::Update(self.lease_version.clone());
        match self.store.put_opts(&self.lock, body, PutOptions::from(mode)).await {
            Ok(put) => {
                self.lease_version = UpdateVersion { e_tag: put.e_tag, version: put.version };
                self.lease_renewed = Instant::now();
                Ok(())
            }
            Err(object_store::Error::Precondition { .. }) => Err(anyhow::anyhow!(
                "the lease {}.lock was taken over by another run; stopping so that nothing is delivered twice",
                self.uri
            )
            .into()),
            Err(e) => Err(anyhow::anyhow!("cannot renew the lease {}.lock: {e}", self.uri).into()),
        }
    }

    /// Deletes the lease if it is still this run's.
    pub(super) async fn release(self) {
        let ours = match self.store.get(&self.lock).await {
            Ok(result) => result
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<Lease>(&b).ok())
                .is_some_and(|lease| lease.owner == self.owner),
            Err(_) => false,
        };
        if ours && let Err(e) = self.store.delete(&self.lock).await {
            tracing::warn!(
                "could not release the lease {}.lock (it expires by itself): {e}",
                self.uri
            );
        }
    }
}

/// The cursor object's bytes, without taking the lease; `None` when it does not exist.
pub(super) async fn read(uri: &S3Uri, options: &S3Options) -> Result<Option<Bytes>, ExportError> {
    let store = open_bucket(&uri.bucket, options)?;
    let path = ObjectPath::from(uri.key.as_str());
    let read = async { store.get(&path).await?.bytes().await };
    match read.await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read the S3 cursor {uri}: {e}").into()),
    }
}

fn lease_body(owner: &str) -> PutPayload {
    let now = Timestamp::now();
    let lease = Lease {
        owner: owner.to_owned(),
        host: hostname(),
        pid: std::process::id(),
        started_at: now.to_string(),
        expires_at: Timestamp::from_micros(now.micros() + LEASE.as_micros() as i64).to_string(),
    };
    PutPayload::from(Bytes::from(
        serde_json::to_vec(&lease).expect("a lease serialises"),
    ))
}

/// Takes the lease, or takes over an expired one.
/// Takes the lease. A lease released between our create and our read is simply tried again.
async fn acquire(
    store: &dyn ObjectStore,
    lock: &ObjectPath,
    owner: &str,
    uri: &S3Uri,
) -> Result<UpdateVersion, ExportError> {
    for _ in 0..3 {
        match try_acquire(store, lock, owner, uri).await {
            Err(Attempt::Released) => continue,
            Err(Attempt::Failed(e)) => return Err(e),
            Ok(version) => return Ok(version),
        }
    }
    Err(
        anyhow::anyhow!("cannot take the lease {uri}.lock: it keeps changing hands; try again")
            .into(),
    )
}

enum Attempt {
    /// The lease was there when creating, gone when reading.
    Released,
    Failed(ExportError),
}

impl From<ExportError> for Attempt {
    fn from(e: ExportError) -> Self {
        Attempt::Failed(e)
    }
}

async fn try_acquire(
    store: &dyn ObjectStore,
    lock: &ObjectPath,
    owner: &str,
    uri: &S3Uri,
) -> Result<UpdateVersion, Attempt> {
    let created = store
        .put_opts(lock, lease_body(owner), PutOptions::from(PutMode::Create))
        .await;
    let error = match created {
        Ok(put) => {
            return Ok(UpdateVersion {
                e_tag: put.e_tag,
                version: put.version,
            });
        }
        Err(e) => e,
    };
    if !matches!(
        error,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }
    ) {
        return Err(ExportError::from(anyhow::anyhow!(
            "cannot take the lease {uri}.lock: {error}"
        ))
        .into());
    }
    let held = match store.get(lock).await {
        Ok(held) => held,
        Err(object_store::Error::NotFound { .. }) => return Err(Attempt::Released),
        Err(e) => {
            return Err(ExportError::from(anyhow::anyhow!(
                "cannot read the lease {uri}.lock: {e}"
            ))
            .into());
        }
    };
    let version = UpdateVersion {
        e_tag: held.meta.e_tag.clone(),
        version: held.meta.version.clone(),
    };
    let bytes = held
        .bytes()
        .await
        .map_err(|e| ExportError::from(anyhow::anyhow!("cannot read the lease {uri}.lock: {e}")))?;
    let lease = serde_json::from_slice::<Lease>(&bytes).ok();
    let expired = lease
        .as_ref()
        .and_then(|l| Timestamp::parse(&l.expires_at).ok())
        .is_none_or(|expires| expires < Timestamp::now());
    if expired
        && let Ok(put) = store
            .put_opts(
                lock,
                lease_body(owner),
                PutOptions::from(PutMode::Update(version)),
            )
            .await
    {
        tracing::warn!("took over the expired lease {uri}.lock (a previous run did not finish)");
        return Ok(UpdateVersion {
            e_tag: put.e_tag,
            version: put.version,
        });
    }
    let holder = match lease {
        Some(l) => format!(
            "run on {} (pid {}) since {}, lease until {}",
            l.host, l.pid, l.started_at, l.expires_at
        ),
        None => "another run".into(),
    };
    Err(Attempt::Failed(ExportError::Locked {
        message: format!(
            "another export holds the S3 cursor {uri} ({holder}); wait for it to finish — runs on one cursor never overlap"
        ),
    }))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
