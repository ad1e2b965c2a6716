//! The archive under a prefix of an S3 bucket. The dated copy is a multipart upload streamed
//! from the spool, visible only once it is complete; `latest.ndjson` is then a server-side
//! copy of it, which replaces the earlier one at once.

use anyhow::Context;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, WriteMultipart};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{Delivered, LATEST};
use crate::s3::{S3Options, open_bucket};

/// The size of each uploaded part (S3 wants at least 5 MiB for all but the last).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts uploading at once: with the part being filled, what the upload holds in memory.
const PARTS_IN_FLIGHT: usize = 2;
/// What is read from the spool at a time.
const READ_BYTES: usize = 1024 * 1024;

/// `prefix/key`, or `key` at the bucket's root.
pub(super) fn object_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

/// Uploads the dated copy `copy`, then copies it to `latest.ndjson`.
pub(super) async fn publish(
    bucket: &str,
    prefix: &str,
    options: &S3Options,
    copy: &str,
    source: Delivered,
) -> anyhow::Result<()> {
    let store = open_bucket(bucket, options)?;
    let dated = ObjectPath::from(object_key(prefix, copy));
    let latest = ObjectPath::from(object_key(prefix, LATEST));
    let upload = store
        .put_multipart(&dated)
        .await
        .with_context(|| format!("cannot start uploading s3://{bucket}/{dated}"))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let streamed = async {
        let file = tokio::fs::File::from_std(source.reader()?.into_inner());
        let mut reader = file.take(source.bytes);
        let mut sent = 0u64;
        loop {
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            let (read, chunk) = read_chunk(&mut reader).await?;
            if read == 0 {
                break;
            }
            sent += read as u64;
            writer.put(chunk);
        }
        anyhow::ensure!(
            sent == source.bytes,
            "the spool held {sent} of {} bytes",
            source.bytes
        );
        Ok(())
    };
    match streamed.await {
        Ok(()) => {
            writer
                .finish()
                .await
                .with_context(|| format!("cannot upload s3://{bucket}/{dated}"))?;
        }
        Err(e) => {
            // Nothing was made visible; the parts already sent are dropped.
            let _ = writer.abort().await;
            return Err(e.context(format!("cannot upload s3://{bucket}/{dated}")));
        }
    }
    store
        .copy(&dated, &latest)
        .await
        .with_context(|| format!("cannot copy s3://{bucket}/{dated} to s3://{bucket}/{latest}"))
}

async fn read_chunk(reader: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(usize, Bytes)> {
    let mut buffer = vec![0; READ_BYTES];
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    buffer.truncate(filled);
    Ok((filled, Bytes::from(buffer)))
}

/// `check`: the bucket takes an object under the prefix. `Ok(true)` when `latest.ndjson` is
/// there.
pub(super) async fn probe(bucket: &str, prefix: &str, options: &S3Options) -> anyhow::Result<bool> {
    let store = open_bucket(bucket, options)?;
    let probe = ObjectPath::from(object_key(prefix, ".guardrail-archive-check"));
    store
        .put(&probe, Bytes::from_static(b"check\n").into())
        .await
        .context("cannot write an object there")?;
    store
        .delete(&probe)
        .await
        .context("cannot delete the check object")?;
    match store
        .head(&ObjectPath::from(object_key(prefix, LATEST)))
        .await
    {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {LATEST}"))),
    }
}
