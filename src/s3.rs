//! S3 access shared by the cursor store, the status file and the gateway's lake: `s3://` URIs,
//! and buckets opened with the configured endpoint, region and credentials.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use object_store::aws::AmazonS3Builder;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use secrecy::{ExposeSecret, SecretString};

pub use crate::location::S3Uri;

/// How to reach S3. Anything left `None` comes from the standard `AWS_*` variables.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// An S3-compatible endpoint (MinIO, moto…); plain `http://` is allowed for it.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
}

/// Opens `bucket`. Requests time out and are retried a little, so a stalled store fails the
/// run instead of hanging it.
pub fn open_bucket(bucket: &str, options: &S3Options) -> anyhow::Result<Arc<dyn ObjectStore>> {
    open_with(
        bucket,
        options,
        ClientOptions::new().with_timeout(Duration::from_secs(20)),
    )
}

/// Opens `bucket` for streaming objects of any size to a client: no limit on a whole request,
/// which a large download over a slow link would exceed; connecting still times out.
pub fn open_bucket_for_streaming(
    bucket: &str,
    options: &S3Options,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    open_with(
        bucket,
        options,
        ClientOptions::new().with_timeout_disabled(),
    )
}

fn open_with(
    bucket: &str,
    options: &S3Options,
    client: ClientOptions,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    // reqwest's rustls needs a process-wide crypto provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
            ..RetryConfig::default()
        })
        .with_client_options(client.with_connect_timeout(Duration::from_secs(5)));
    if let Some(region) = &options.region {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint);
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
    }
    if let Some(key) = &options.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &options.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose_secret());
    }
    let store = builder
        .build()
        .with_context(|| format!("cannot set up S3 access to the bucket {bucket}"))?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_name_a_bucket_and_a_key() {
        let uri = S3Uri::parse("s3://ops-state/guardrail/cursor.json", false).unwrap();
        assert_eq!(
            (uri.bucket.as_str(), uri.key.as_str()),
            ("ops-state", "guardrail/cursor.json")
        );
        assert_eq!(uri.to_string(), "s3://ops-state/guardrail/cursor.json");
        assert!(S3Uri::parse("s3://ops-state", false).is_err());
        assert_eq!(S3Uri::parse("s3://lake/", true).unwrap().key, "");
        assert!(S3Uri::parse("https://x/y", false).is_err());
    }
}
