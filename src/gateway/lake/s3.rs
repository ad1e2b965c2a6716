//! A lake under a key prefix of an S3 bucket, through `object_store`. A PUT is atomic, and the
//! store acknowledges it only once the object is stored.

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::gateway::lake::{LakeStore, Put, PutError, compare_existing};
use crate::s3::{S3Options, open_bucket};

#[derive(Debug, Clone)]
pub struct S3Lake {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    description: String,
    /// Why the last put failed, until one succeeds: what `check` reports.
    last_failure: Arc<std::sync::Mutex<Option<String>>>,
}

impl S3Lake {
    /// Sets up access to `bucket`; nothing is sent until the first put.
    pub fn open(bucket: &str, prefix: &str, options: &S3Options) -> anyhow::Result<S3Lake> {
        let store = open_bucket(bucket, options)
            .with_context(|| format!("cannot set up the S3 lake s3://{bucket}"))?;
        let description = match &options.endpoint {
            Some(endpoint) => format!("s3://{bucket}/{prefix} at {endpoint}"),
            None => format!("s3://{bucket}/{prefix}"),
        };
        Ok(S3Lake {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            description,
            last_failure: Arc::default(),
        })
    }
}

impl S3Lake {
    async fn put_new(&self, key: &str, bytes: Bytes) -> Result<Put, PutError> {
        let location = location(&self.prefix, key);
        let stored = self
            .store
            .put_opts(
                &location,
                PutPayload::from_bytes(bytes.clone()),
                PutOptions::from(PutMode::Create),
            )
            .await;
        match stored {
            Ok(_) => Ok(Put::Stored),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {
                let existing = async { self.store.get(&location).await?.bytes().await };
                let existing = existing.await.with_context(|| {
                    format!(
                        "cannot read {location} in {} to compare it",
                        self.description
                    )
                })?;
                compare_existing(key, &existing, &bytes)
            }
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("cannot store {location} in {}", self.description))
                .into()),
        }
    }
}

impl LakeStore for S3Lake {
    /// A conditional PUT (`If-None-Match: *`); at a taken key, the stored object is read and
    /// compared.
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<Put, PutError>> {
        Box::pin(async move {
            let result = self.put_new(key, bytes).await;
            let failure = match &result {
                Err(PutError::Failed(e)) => Some(format!("{e:#}")),
                _ => None,
            };
            *self
                .last_failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = failure;
            result
        })
    }

    /// Not probed, since every probe would be a billed request and an object the stage might
    /// read: the result of the last real write instead (healthy before the first one).
    fn check(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        let failure = self
            .last_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Box::pin(async move {
            match failure {
                Some(why) => Err(anyhow::anyhow!("the last write to the lake failed: {why}")),
                None => Ok(()),
            }
        })
    }

    /// Nothing to prepare: the bucket exists or the first put says so.
    fn prepare(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// The object's key in the bucket: the lake's prefix, then the batch key.
fn location(prefix: &str, key: &str) -> ObjectPath {
    if prefix.is_empty() {
        ObjectPath::from(key)
    } else {
        ObjectPath::from(format!("{prefix}/{key}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_sits_under_the_lakes_prefix() {
        assert_eq!(location("", "a/b").as_ref(), "a/b");
        assert_eq!(location("raw/x", "a/b").as_ref(), "raw/x/a/b");
    }
}
