//! The S3 cursor store's lease: `<key>.lock`, created only if absent, naming its owner and
//! when it expires; renewed while the run lives; taken over once expired; removed by
//! `cursor unlock` when its holder is gone.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::s3::{S3Options, S3Uri, open_bucket};
use crate::time::Timestamp;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Lease {
    pub(super) owner: String,
    host: String,
    pid: u32,
    /// The kernel instance and pid namespace the holder runs in (`<boot id>/<pid namespace>`):
    /// a run seeing the same one can tell from `/proc` whether the holder still lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kernel: Option<String>,
    started_at: String,
    expires_at: String,
}

/// The lease as this run holds it, shared with the renewing task.
#[derive(Debug)]
pub(super) struct LeaseState {
    pub(super) version: UpdateVersion,
    /// Why the lease can no longer be trusted, once renewal failed.
    pub(super) lost: Option<String>,
}

/// Renews the lease every third of its length until the run ends; on failure, marks it lost
/// and stops (the run then stops before its next delivery).
pub(super) async fn renew_while_alive(
    store: Arc<dyn ObjectStore>,
    lock: ObjectPath,
    owner: String,
    uri: S3Uri,
    duration: Duration,
    lease: Arc<tokio::sync::Mutex<LeaseState>>,
) {
    loop {
        tokio::time::sleep(duration / 3).await;
        let mut state = lease.lock().await;
        let mode = PutMode::Update(state.version.clone());
        let renewed = store
            .put_opts(&lock, lease_body(&owner, duration), PutOptions::from(mode))
            .await;
        match renewed {
            Ok(put) => {
                state.version = UpdateVersion {
                    e_tag: put.e_tag,
                    version: put.version,
                };
                tracing::debug!("renewed the lease {uri}.lock");
            }
            Err(e) => {
                let why = match e {
                    object_store::Error::Precondition { .. } => format!(
                        "the lease {uri}.lock was taken over by another run; stopping so that \
                         nothing is delivered twice"
                    ),
                    e => format!(
                        "cannot renew the lease {uri}.lock ({e}); stopping before another run \
                         can take it over"
                    ),
                };
                tracing::warn!("{why}");
                state.lost = Some(why);
                return;
            }
        }
    }
}

fn lease_body(owner: &str, duration: Duration) -> PutPayload {
    let now = Timestamp::now();
    let lease = Lease {
        owner: owner.to_owned(),
        host: hostname(),
        pid: std::process::id(),
        kernel: kernel_identity(),
        started_at: now.to_string(),
        expires_at: Timestamp::from_micros(
            now.micros() + i64::try_from(duration.as_micros()).unwrap_or(i64::MAX / 2),
        )
        .to_string(),
    };
    PutPayload::from(Bytes::from(
        serde_json::to_vec(&lease).expect("a lease serialises"),
    ))
}

/// Takes the lease. A lease released between our create and our read is simply tried again.
pub(super) async fn acquire(
    store: &dyn ObjectStore,
    lock: &ObjectPath,
    owner: &str,
    uri: &S3Uri,
    duration: Duration,
) -> Result<UpdateVersion, Error> {
    for _ in 0..3 {
        match try_acquire(store, lock, owner, uri, duration).await {
            Err(Attempt::Released) => {}
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
    Failed(Error),
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Self {
        Attempt::Failed(e)
    }
}

async fn try_acquire(
    store: &dyn ObjectStore,
    lock: &ObjectPath,
    owner: &str,
    uri: &S3Uri,
    duration: Duration,
) -> Result<UpdateVersion, Attempt> {
    let created = store
        .put_opts(
            lock,
            lease_body(owner, duration),
            PutOptions::from(PutMode::Create),
        )
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
        return Err(
            Error::from(anyhow::anyhow!("cannot take the lease {uri}.lock: {error}")).into(),
        );
    }
    let held = match store.get(lock).await {
        Ok(held) => held,
        Err(object_store::Error::NotFound { .. }) => return Err(Attempt::Released),
        Err(e) => {
            return Err(
                Error::from(anyhow::anyhow!("cannot read the lease {uri}.lock: {e}")).into(),
            );
        }
    };
    let version = UpdateVersion {
        e_tag: held.meta.e_tag.clone(),
        version: held.meta.version.clone(),
    };
    let bytes = held
        .bytes()
        .await
        .map_err(|e| Error::from(anyhow::anyhow!("cannot read the lease {uri}.lock: {e}")))?;
    let lease = serde_json::from_slice::<Lease>(&bytes).ok();
    let expired = lease
        .as_ref()
        .and_then(|l| Timestamp::parse(&l.expires_at).ok())
        .is_none_or(|expires| expires < Timestamp::now());
    // A holder in this very kernel and pid namespace whose process is gone cannot write any
    // more (a run killed, or stopped by a frozen S3 endpoint before it could release): its
    // lease is taken over at once instead of when it expires.
    let gone = lease.as_ref().is_some_and(|l| {
        l.kernel.is_some() && l.kernel == kernel_identity() && !process_alive(l.pid)
    });
    if (expired || gone)
        && let Ok(put) = store
            .put_opts(
                lock,
                lease_body(owner, duration),
                PutOptions::from(PutMode::Update(version)),
            )
            .await
    {
        if expired {
            tracing::warn!(
                "took over the expired lease {uri}.lock (a previous run did not finish)"
            );
        } else {
            tracing::warn!(
                "took over the lease {uri}.lock of pid {} on this host, which is gone (a \
                 previous run did not finish)",
                lease.as_ref().map_or(0, |l| l.pid)
            );
        }
        return Ok(UpdateVersion {
            e_tag: put.e_tag,
            version: put.version,
        });
    }
    let message = match lease {
        Some(l) if l.host == hostname() && !process_alive(l.pid) => format!(
            "the S3 cursor {uri} is held by a run on this host (pid {}, since {}) that is gone: \
             it crashed or was killed. Its lease expires at {}; the first run after that takes \
             over. To take over now: guardrail-followups cursor unlock --cursor-store s3 \
             --cursor-store-uri {uri}",
            l.pid, l.started_at, l.expires_at
        ),
        Some(l) => format!(
            "another export holds the S3 cursor {uri} (run on {} (pid {}) since {}, lease until \
             {}, renewed while it lives); wait for it to finish — runs on one cursor never \
             overlap. If that run is gone (its host crashed), the first run after the lease \
             expires takes over, or take over now with guardrail-followups cursor unlock --force",
            l.host, l.pid, l.started_at, l.expires_at
        ),
        None => format!(
            "another export holds the S3 cursor {uri} (its lease {uri}.lock is unreadable); if \
             no export runs on this cursor, remove it with guardrail-followups cursor unlock --force"
        ),
    };
    Err(Attempt::Failed(Error::Locked { message }))
}

/// Whether a process of this host still runs (Linux; elsewhere it is assumed alive).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// `<boot id>/<pid namespace>`: two processes with the same one see each other in `/proc`.
/// `None` where it cannot be read (not Linux).
fn kernel_identity() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), namespace.display()))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// `cursor unlock`: removes the lease when its holder is gone (expired, or a dead process on
/// this host), or with `force` when it is another host's; never a live process's on this host.
pub(crate) async fn unlock(uri: &S3Uri, options: &S3Options, force: bool) -> Result<String, Error> {
    let store = open_bucket(&uri.bucket, options)?;
    let lock = ObjectPath::from(format!("{}.lock", uri.key));
    let read = async { store.get(&lock).await?.bytes().await };
    let bytes = match read.await {
        Ok(bytes) => bytes,
        Err(object_store::Error::NotFound { .. }) => {
            return Ok(format!("{uri} has no lease: nothing to unlock"));
        }
        Err(e) => return Err(anyhow::anyhow!("cannot read the lease {uri}.lock: {e}").into()),
    };
    let lease = serde_json::from_slice::<Lease>(&bytes).ok();
    let verdict = match &lease {
        None if force => Ok("an unreadable lease".to_owned()),
        None => {
            Err("its content is unreadable; rerun with --force if no export runs on it".to_owned())
        }
        Some(l) => {
            let expired = Timestamp::parse(&l.expires_at).is_ok_and(|t| t < Timestamp::now());
            let here = l.host == hostname();
            let who = format!(
                "the lease of the run on {} (pid {}) since {}",
                l.host, l.pid, l.started_at
            );
            if here && process_alive(l.pid) && !expired {
                Err(format!(
                    "it belongs to pid {} on this host, which is still running: stop that export \
                     first (or let it finish)",
                    l.pid
                ))
            } else if expired || here || force {
                Ok(who)
            } else {
                Err(format!(
                    "it belongs to a run on {} (pid {}) until {}, which may still be running. If \
                     that host is down, rerun with --force",
                    l.host, l.pid, l.expires_at
                ))
            }
        }
    };
    match verdict {
        Ok(who) => {
            store
                .delete(&lock)
                .await
                .map_err(|e| anyhow::anyhow!("cannot delete the lease {uri}.lock: {e}"))?;
            Ok(format!(
                "removed {who} from {uri}.lock; the next export takes the cursor"
            ))
        }
        Err(why) => Err(Error::Locked {
            message: format!("the lease {uri}.lock was left in place: {why}"),
        }),
    }
}
