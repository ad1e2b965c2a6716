//! Reading a request body under a size cap and a deadline, and gunzipping it under the same cap
//! (so a small gzip bomb is refused as soon as it inflates past the limit).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::gateway::error::ApiError;

/// Time allowed for the whole body to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a request may wait for its share of [`ReadBudget`] before it is answered 503.
pub const BUDGET_WAIT: Duration = Duration::from_secs(30);

/// The bytes of request bodies the gateway reads at once, across every connection: a request
/// reserves its declared length (or the largest body allowed) before its body is read, and
/// waits, or is answered 503 after [`BUDGET_WAIT`], while others hold the budget. So memory
/// stays bounded whatever the clients send, authenticated or not.
#[derive(Debug)]
pub struct ReadBudget {
    kib: Arc<Semaphore>,
    total_kib: u32,
}

impl ReadBudget {
    pub fn new(bytes: usize) -> ReadBudget {
        let total_kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        ReadBudget {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// A share of `bytes`, held until the permit is dropped.
    pub async fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib);
        match tokio::time::timeout(BUDGET_WAIT, self.kib.clone().acquire_many_owned(kib)).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(ApiError::Internal(anyhow::Error::new(closed))),
            Err(_) => Err(ApiError::Busy(format!(
                "the gateway is already receiving its limit of {} MiB of bodies \
                 (--max-bytes-in-flight); retry shortly",
                self.total_kib / 1024
            ))),
        }
    }
}

/// How the body is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// Reads the whole body, refusing with 413 once it exceeds `max` bytes (before reading at all
/// when `Content-Length` already says so) and with 408 when it takes longer than
/// [`BODY_TIMEOUT`].
pub async fn read(body: Body, headers: &HeaderMap, max: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || too_large(max);
    let declared = check_declared_length(headers, max)?;
    let collect = async {
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0));
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
            if bytes.len() + chunk.len() > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    tokio::time::timeout(BODY_TIMEOUT, collect)
        .await
        .map_err(|_| {
            ApiError::RequestTimeout(format!(
                "the body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ))
        })?
}

fn too_large(max: usize) -> ApiError {
    ApiError::TooLarge(format!(
        "the body is larger than {max} bytes (--max-body-bytes); send smaller batches \
         (the exporter's --batch-size)"
    ))
}

/// The declared `Content-Length`, refused with 413 when it is over `max` — before anything
/// is reserved or read.
pub fn check_declared_length(headers: &HeaderMap, max: usize) -> Result<Option<usize>, ApiError> {
    match declared_length(headers) {
        Some(n) if n > max => Err(too_large(max)),
        declared => Ok(declared),
    }
}

/// The `Content-Length` the client declared, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
}

/// The `Content-Encoding` as the signature covers it: trimmed, lowercase, empty when absent.
pub fn encoding_text(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_ENCODING)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The body's `Content-Encoding`: none (or `identity`) and `gzip` are accepted.
pub fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let text = value.to_str().unwrap_or("?").trim().to_ascii_lowercase();
    match text.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding `{other}` is not supported; send gzip or no encoding"
        ))),
    }
}

/// Accepts `application/json` (or any `…+json`), or no `Content-Type` at all.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("?");
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type `{text}` is not JSON; send Content-Type: application/json"
        )))
    }
}

/// Decompresses a gzip body, refusing with 413 once it inflates past `max` bytes.
pub fn gunzip(compressed: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    let mut json = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(max as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "the body is not valid gzip (Content-Encoding: gzip): {e}"
            ))
        })?;
    if json.len() > max {
        return Err(ApiError::TooLarge(format!(
            "the body decompresses to more than {max} bytes (--max-body-bytes); send smaller \
             batches (the exporter's --batch-size)"
        )));
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gunzip_stops_at_the_cap() {
        let json = vec![b' '; 10_000];
        assert_eq!(gunzip(&gzip(&json), 10_000).unwrap().len(), 10_000);
        assert!(matches!(
            gunzip(&gzip(&json), 9_999),
            Err(ApiError::TooLarge(_))
        ));
        assert!(matches!(
            gunzip(b"not gzip", 100),
            Err(ApiError::BadRequest(_))
        ));
    }
}
