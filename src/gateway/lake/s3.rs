//! A lake under a key prefix of an S3 bucket, through `object_store`. A PUT is atomic, and the
//! store acknowledges it only once the object is stored.

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::gateway::lake::LakeStore;
use crate::s3::{S3Options, open_bucket};

#[derive(Debug, Clone)]
pub struct S3Lake {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    description: String,
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
        })
    }
}

impl LakeStore for S3Lake {
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let location = location(&self.prefix, key);
            self.store
                .put(&location, PutPayload::from_bytes(bytes))
                .await
                .with_context(|| format!("cannot store {location} in {}", self.description))?;
            Ok(())
        })
    }

    /// Not probed: every probe would be a billed request and an object the stage might read.
    fn check(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
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
