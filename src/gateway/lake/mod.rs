//! The lake: where batches land, one NDJSON object per batch at
//! `guardrail_followups/dt=YYYY-MM-DD/<idempotency-key>.ndjson` under the lake's root.
//!
//! [`LakeStore`] is the seam and states its contract; [`local`] (a folder), [`s3`] (a bucket)
//! and [`memory`] (for tests) implement it. [`Lake`] is the handle the handlers share, and
//! [`Lake::open`] the one place a `--lake` URI becomes a store.

pub mod local;
pub mod memory;
pub mod s3;

use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use futures_util::future::BoxFuture;

pub use crate::lake_layout::{LakeUri, TABLE_PREFIX};

pub use crate::s3::S3Options;
pub use local::LocalLake;
pub use memory::MemoryLake;
pub use s3::S3Lake;

/// Where batches are stored.
///
/// The contract every lake keeps:
/// - [`put`](LakeStore::put) returns `Ok` only once the object is durable: a crash or a power
///   cut after it cannot lose the object. Only then does the gateway answer 200.
/// - A put is atomic: a reader sees no object or the whole object, never part of one.
/// - A put never replaces an object: at a key that is taken it is `Ok(Put::AlreadyStored)` when
///   the stored bytes are the same (a resent batch), and [`PutError::Conflict`] when they differ,
///   with nothing written. Since a key is the hash of its rows, a replayed request can at worst
///   leave an object as it was.
/// - [`check`](LakeStore::check) returning `Ok` means a put could succeed now, as far as can be
///   proved (see each lake for what it proves); `GET /healthz` answers with it.
/// - [`prepare`](LakeStore::prepare) runs once before the gateway listens: it creates what
///   must exist and removes what an earlier crash left behind.
pub trait LakeStore: Send + Sync + fmt::Debug {
    /// Stores `bytes` at `key` (from [`Lake::batch_key`]), relative to the lake's root.
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<Put, PutError>>;

    /// Whether a batch could be written now.
    fn check(&self) -> BoxFuture<'_, anyhow::Result<()>>;

    /// Gets the lake ready before the first request.
    fn prepare(&self) -> BoxFuture<'_, anyhow::Result<()>>;

    /// Where the lake is, for logs.
    fn describe(&self) -> String;
}

/// What a successful put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Stored,
    /// The same bytes were already stored at the key: nothing was written.
    AlreadyStored,
}

#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// Other bytes are stored at the key; they were left as they are.
    #[error("another object with different content is already stored at {0}")]
    Conflict(String),
    /// The lake could not store the object.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// What a put at a taken key answers: the same bytes are no change, others a conflict.
pub fn compare_existing(key: &str, stored: &[u8], bytes: &[u8]) -> Result<Put, PutError> {
    if stored == bytes {
        Ok(Put::AlreadyStored)
    } else {
        Err(PutError::Conflict(key.to_owned()))
    }
}

/// An opened lake, shared by every request: a cheap handle on one [`LakeStore`].
#[derive(Debug, Clone)]
pub struct Lake(Arc<dyn LakeStore>);

impl Deref for Lake {
    type Target = dyn LakeStore;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl Lake {
    /// A handle on `store`.
    pub fn new(store: Arc<dyn LakeStore>) -> Lake {
        Lake(store)
    }

    /// Opens the lake that `uri` names: the one place each kind of lake is chosen.
    pub fn open(uri: &LakeUri, options: &S3Options) -> anyhow::Result<Lake> {
        match uri {
            LakeUri::Local(root) => Ok(Lake::local(root.clone())),
            LakeUri::S3 { bucket, prefix } => Lake::s3(bucket, prefix, options),
        }
    }

    /// A lake in the folder `root`. Nothing is touched until [`LakeStore::prepare`] or the
    /// first write.
    pub fn local(root: impl Into<PathBuf>) -> Lake {
        Lake::new(Arc::new(LocalLake::new(root)))
    }

    /// A lake under `prefix` in an S3 bucket. Credentials and other settings come from the
    /// `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION`…) unless `options` sets them.
    pub fn s3(bucket: &str, prefix: &str, options: &S3Options) -> anyhow::Result<Lake> {
        Ok(Lake::new(Arc::new(S3Lake::open(bucket, prefix, options)?)))
    }

    /// The key of a batch, relative to the lake's root (folder, or bucket prefix).
    pub fn batch_key(date: NaiveDate, idempotency_key: &str) -> String {
        crate::lake_layout::batch_key(date, idempotency_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_uris_parse_into_folders_and_buckets() {
        assert_eq!(
            LakeUri::parse("./lake").unwrap(),
            LakeUri::Local("./lake".into())
        );
        assert_eq!(
            LakeUri::parse("file:///var/lib/lake").unwrap(),
            LakeUri::Local("/var/lib/lake".into())
        );
        assert_eq!(
            LakeUri::parse("s3://analytics/raw/").unwrap(),
            LakeUri::S3 {
                bucket: "analytics".into(),
                prefix: "raw".into()
            }
        );
        assert_eq!(
            LakeUri::parse("s3://analytics").unwrap(),
            LakeUri::S3 {
                bucket: "analytics".into(),
                prefix: String::new()
            }
        );
        assert!(
            LakeUri::parse("s3:///raw")
                .unwrap_err()
                .contains("no bucket")
        );
        assert!(
            LakeUri::parse("gs://b/p")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(LakeUri::parse(" ").is_err());
    }

    #[test]
    fn a_batch_key_is_dated_and_named_by_its_idempotency_key() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert_eq!(
            Lake::batch_key(date, "gf1-abc"),
            "guardrail_followups/dt=2026-01-02/gf1-abc.ndjson"
        );
    }

    #[test]
    fn a_uri_opens_the_lake_it_names() {
        let folder = Lake::open(&LakeUri::Local("/srv/lake".into()), &S3Options::default());
        assert_eq!(folder.unwrap().describe(), "/srv/lake");
        let bucket = LakeUri::parse("s3://analytics/raw/").unwrap();
        let options = S3Options {
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: Some("eu-west-1".into()),
            ..S3Options::default()
        };
        assert_eq!(
            Lake::open(&bucket, &options).unwrap().describe(),
            "s3://analytics/raw at http://127.0.0.1:9000"
        );
    }
}
