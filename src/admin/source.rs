//! Where the status document comes from (an http(s) URL, an `s3://` object or a local file)
//! and the cache in front of it.
//!
//! A status that does not exist yet (no file, no object, HTTP 404) is not an error: no export
//! has run yet, and the card says how to run one.
//!
//! A read is reused for the configured time (at most an hour); a failed read for at most 30 s,
//! so a fixed problem shows up quickly. After a successful "Run export now" the cache is dropped
//! and, for half an hour, reads are reused for at most 15 s, so the new cursor appears soon
//! after the dispatched run publishes it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use url::Url;

use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use crate::env_vars as env;
use crate::location::{Location, Place};
use crate::redact;
use crate::s3::{S3Options, S3Uri, open_bucket};
use crate::status::{Status, Unreadable};

/// Larger status documents are refused: the real one is a few hundred bytes.
pub const MAX_STATUS_BYTES: usize = 1024 * 1024;
const ERROR_TTL: Duration = Duration::from_secs(30);
const WATCH_TTL: Duration = Duration::from_secs(15);
const WATCH_FOR: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSource {
    File(PathBuf),
    Http(Url),
    S3(S3Uri),
}

/// Why a read gave no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadFailure {
    /// There is no status yet (no file, no object, HTTP 404): no export has run.
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Unreadable(Unreadable),
}

impl From<Unreadable> for ReadFailure {
    fn from(unreadable: Unreadable) -> Self {
        ReadFailure::Unreadable(unreadable)
    }
}

impl StatusSource {
    /// `http(s)://…`, `s3://bucket/key`, `file:///…`, or a plain path.
    pub fn parse(text: &str) -> Result<StatusSource, String> {
        Ok(match Location::parse(text, Place::READABLE_FILE)? {
            Location::Local(path) => StatusSource::File(path),
            Location::S3(uri) => StatusSource::S3(uri),
            Location::Http(url) => StatusSource::Http(url),
        })
    }

    /// For messages: the path, or the URL without secrets.
    pub fn describe(&self) -> String {
        match self {
            StatusSource::File(path) => path.display().to_string(),
            StatusSource::Http(url) => redact::url(url.as_str()),
            StatusSource::S3(uri) => uri.to_string(),
        }
    }

    async fn read(&self, client: &reqwest::Client, s3: &S3Options) -> Result<Vec<u8>, ReadFailure> {
        match self {
            StatusSource::File(path) => read_file(path).await,
            StatusSource::Http(url) => read_url(client, url).await,
            StatusSource::S3(uri) => read_object(uri, s3).await,
        }
    }
}

async fn read_file(path: &PathBuf) -> Result<Vec<u8>, ReadFailure> {
    let shown = path.display();
    let metadata = tokio::fs::metadata(path).await.map_err(|e| {
        let reason = format!("cannot read {shown}: {e}");
        if e.kind() == std::io::ErrorKind::NotFound {
            ReadFailure::Missing(reason)
        } else {
            ReadFailure::Unreadable(Unreadable(reason))
        }
    })?;
    if metadata.len() > MAX_STATUS_BYTES as u64 {
        return Err(Unreadable(format!(
            "{shown} is {} bytes, more than a status document can be ({MAX_STATUS_BYTES})",
            metadata.len()
        ))
        .into());
    }
    Ok(tokio::fs::read(path)
        .await
        .map_err(|e| Unreadable(format!("cannot read {shown}: {e}")))?)
}

async fn read_object(uri: &S3Uri, s3: &S3Options) -> Result<Vec<u8>, ReadFailure> {
    let unreadable = |reason: String| {
        ReadFailure::Unreadable(Unreadable(format!("cannot read {uri}: {reason}")))
    };
    let store = open_bucket(&uri.bucket, s3).map_err(|e| unreadable(format!("{e:#}")))?;
    let object = match store.get(&ObjectPath::from(uri.key.as_str())).await {
        Ok(object) => object,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(ReadFailure::Missing(format!(
                "cannot read {uri}: no such object"
            )));
        }
        Err(e) => return Err(unreadable(redact::error_chain(&e))),
    };
    if object.meta.size > MAX_STATUS_BYTES as u64 {
        return Err(Unreadable(format!(
            "{uri} is {} bytes, more than a status document can be ({MAX_STATUS_BYTES})",
            object.meta.size
        ))
        .into());
    }
    let mut body = Vec::new();
    let mut chunks = object.into_stream();
    while let Some(chunk) = chunks.next().await {
        body.extend_from_slice(&chunk.map_err(|e| unreadable(redact::error_chain(&e)))?);
        if body.len() > MAX_STATUS_BYTES {
            return Err(Unreadable(format!(
                "{uri} holds more than {MAX_STATUS_BYTES} bytes; a status document is small"
            ))
            .into());
        }
    }
    Ok(body)
}

async fn read_url(client: &reqwest::Client, url: &Url) -> Result<Vec<u8>, ReadFailure> {
    let shown = redact::url(url.as_str());
    let unreachable = |e: reqwest::Error| {
        Unreadable(format!(
            "cannot fetch {shown}: {}",
            redact::error_chain(&e.without_url())
        ))
    };
    let response = client.get(url.clone()).send().await.map_err(unreachable)?;
    let code = response.status();
    if code == reqwest::StatusCode::NOT_FOUND {
        return Err(ReadFailure::Missing(format!("{shown} answered {code}")));
    }
    if !code.is_success() {
        return Err(Unreadable(format!("{shown} answered {code}")).into());
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        body.extend_from_slice(&chunk.map_err(unreachable)?);
        if body.len() > MAX_STATUS_BYTES {
            return Err(Unreadable(format!(
                "{shown} sent more than {MAX_STATUS_BYTES} bytes; a status document is small"
            ))
            .into());
        }
    }
    Ok(body)
}

/// One read of the status: what it gave and when.
#[derive(Debug)]
pub struct Snapshot {
    pub read_at: DateTime<Utc>,
    pub result: Result<Status, ReadFailure>,
    taken: Instant,
}

impl Snapshot {
    #[cfg(test)]
    pub fn for_tests(result: Result<Status, impl Into<ReadFailure>>) -> Snapshot {
        Snapshot {
            read_at: Utc::now(),
            result: result.map_err(Into::into),
            taken: Instant::now(),
        }
    }
}

#[derive(Debug)]
pub struct StatusCache {
    source: Option<StatusSource>,
    client: reqwest::Client,
    /// How an `s3://` status is reached.
    s3: S3Options,
    ttl: Duration,
    state: tokio::sync::Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    snapshot: Option<Arc<Snapshot>>,
    /// Until then, reads are reused for at most [`WATCH_TTL`]: a run was just dispatched.
    watch_until: Option<Instant>,
}

impl StatusCache {
    pub fn new(
        source: Option<StatusSource>,
        client: reqwest::Client,
        s3: S3Options,
        ttl: Duration,
    ) -> Self {
        StatusCache {
            source,
            client,
            s3,
            ttl,
            state: tokio::sync::Mutex::default(),
        }
    }

    pub fn source(&self) -> Option<&StatusSource> {
        self.source.as_ref()
    }

    /// The cached read while it is fresh, else a new one. Concurrent callers share one read.
    pub async fn get(&self) -> Arc<Snapshot> {
        let mut state = self.state.lock().await;
        let watching = state
            .watch_until
            .is_some_and(|until| Instant::now() < until);
        if let Some(snapshot) = &state.snapshot {
            let mut ttl = self.ttl;
            if snapshot.result.is_err() {
                ttl = ttl.min(ERROR_TTL);
            }
            if watching {
                ttl = ttl.min(WATCH_TTL);
            }
            if snapshot.taken.elapsed() < ttl {
                return Arc::clone(snapshot);
            }
        }
        let snapshot = Arc::new(self.read().await);
        state.snapshot = Some(Arc::clone(&snapshot));
        snapshot
    }

    /// Forgets the cached read, and keeps later reads short-lived for a while: a run was just
    /// dispatched and will publish a new status soon.
    pub async fn revalidate(&self) {
        let mut state = self.state.lock().await;
        state.snapshot = None;
        state.watch_until = Some(Instant::now() + WATCH_FOR);
    }

    async fn read(&self) -> Snapshot {
        let result = match &self.source {
            None => Err(Unreadable(format!(
                "no status source is configured: set {} to the exporter's status JSON \
                 (an http(s) URL, an s3://bucket/key URI or a file path)",
                env::EXPORT_STATUS_URL
            ))
            .into()),
            Some(source) => match source.read(&self.client, &self.s3).await {
                Ok(bytes) => Status::parse(&bytes).map_err(|e| {
                    Unreadable(format!("{} (read from {})", e.0, source.describe())).into()
                }),
                Err(e) => Err(e),
            },
        };
        match &result {
            Err(ReadFailure::Missing(reason)) => {
                tracing::info!("no export status yet, no export has run: {reason}");
            }
            Err(ReadFailure::Unreadable(e)) => tracing::warn!("export status unreadable: {e}"),
            Ok(_) => {}
        }
        Snapshot {
            read_at: Utc::now(),
            result,
            taken: Instant::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_urls_or_paths() {
        assert_eq!(
            StatusSource::parse("/var/lib/guardrail/status.json"),
            Ok(StatusSource::File("/var/lib/guardrail/status.json".into()))
        );
        assert_eq!(
            StatusSource::parse("file:///tmp/status.json"),
            Ok(StatusSource::File("/tmp/status.json".into()))
        );
        assert!(matches!(
            StatusSource::parse("https://exports.example.com/status.json"),
            Ok(StatusSource::Http(_))
        ));
        assert_eq!(
            StatusSource::parse("s3://ops-state/guardrail/status.json"),
            Ok(StatusSource::S3(S3Uri {
                bucket: "ops-state".into(),
                key: "guardrail/status.json".into(),
            }))
        );
        assert!(StatusSource::parse("s3://bucket").is_err());
        assert!(StatusSource::parse("ftp://bucket/status.json").is_err());
        assert!(StatusSource::parse("http://").is_err());
    }
}
