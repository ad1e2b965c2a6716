//! Reading a request body under a size cap and a deadline, and gunzipping it under the same cap
//! (so a small gzip bomb is refused as soon as it inflates past the limit).

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::gateway::error::ApiError;
use crate::server::body_rate::BodyTooSlow;

/// Time allowed for the whole body to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a request may wait for its share of [`ReadBudget`] before it is answered 503.
pub const BUDGET_WAIT: Duration = Duration::from_secs(30);

/// The bytes of request bodies the gateway reads at once, across every connection and per
/// client: a request reserves its declared length (or the largest body allowed) from its
/// client's share, then from the whole, before its body is read, and waits, or is answered 503
/// after [`BUDGET_WAIT`], while others hold them. So memory stays bounded whatever the clients
/// send, authenticated or not, and one client's bodies — an attacker's slow ones — cannot take
/// the share of another.
#[derive(Debug)]
pub struct ReadBudget {
    kib: Arc<Semaphore>,
    total_kib: u32,
    per_client_kib: u32,
    /// Each client's share while it has a request reserving or holding one.
    clients: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

/// How many clients' shares are remembered before the idle ones are forgotten.
const FORGET_IDLE_CLIENTS_AT: usize = 1024;

/// A reservation: the client's share and the whole's, released when dropped.
#[derive(Debug)]
pub struct Share {
    _whole: OwnedSemaphorePermit,
    _client: OwnedSemaphorePermit,
}

fn kib_of(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024))
        .unwrap_or(u32::MAX)
        .clamp(1, Semaphore::MAX_PERMITS as u32)
}

impl ReadBudget {
    /// `bytes` in all, `per_client` of them for one client.
    pub fn new(bytes: usize, per_client: usize) -> ReadBudget {
        let total_kib = kib_of(bytes);
        ReadBudget {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            per_client_kib: kib_of(per_client).min(total_kib),
            clients: Mutex::default(),
        }
    }

    /// A share of `bytes` for `client`, held until the share is dropped.
    pub async fn reserve(&self, client: IpAddr, bytes: usize) -> Result<Share, ApiError> {
        let kib = kib_of(bytes).min(self.per_client_kib);
        let key = crate::server::clients::client_key(client);
        let own = {
            let mut clients = self.clients.lock().expect("not poisoned");
            if clients.len() >= FORGET_IDLE_CLIENTS_AT {
                // Only the map holds an idle client's share.
                clients.retain(|_, share| Arc::strong_count(share) > 1);
            }
            Arc::clone(
                clients
                    .entry(key)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_client_kib as usize))),
            )
        };
        let reserve = async {
            let client = own.clone().acquire_many_owned(kib).await;
            let whole = self.kib.clone().acquire_many_owned(kib).await;
            (client, whole)
        };
        match tokio::time::timeout(BUDGET_WAIT, reserve).await {
            Ok((Ok(client), Ok(whole))) => Ok(Share {
                _whole: whole,
                _client: client,
            }),
            Ok((Err(closed), _) | (_, Err(closed))) => {
                Err(ApiError::Internal(anyhow::Error::new(closed)))
            }
            Err(_) => Err(ApiError::Busy(format!(
                "the gateway is already receiving its limit of bodies ({} MiB from this client, \
                 --max-bytes-in-flight-per-client; {} MiB in all, --max-bytes-in-flight); \
                 retry shortly",
                self.per_client_kib / 1024,
                self.total_kib / 1024
            ))),
        }
    }

    /// Clients with a share remembered (in use, or idle until the next clean-up).
    pub fn clients(&self) -> usize {
        self.clients.lock().expect("not poisoned").len()
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
            let chunk = chunk.map_err(|e| {
                let e = e.into_inner();
                if BodyTooSlow::is_cause_of(e.as_ref()) {
                    ApiError::RequestTimeout(e.to_string())
                } else {
                    ApiError::BadRequest(format!("the body could not be read: {e}"))
                }
            })?;
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

    #[tokio::test(start_paused = true)]
    async fn one_clients_bodies_cannot_take_the_share_of_another() {
        const MIB: usize = 1024 * 1024;
        let budget = ReadBudget::new(64 * MIB, 16 * MIB);
        let (attacker, honest): (IpAddr, IpAddr) =
            ("127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap());
        let held = budget.reserve(attacker, 16 * MIB).await.unwrap();
        // The attacker's next body waits for its own share and is refused after BUDGET_WAIT…
        let started = tokio::time::Instant::now();
        let refused = budget.reserve(attacker, MIB).await.unwrap_err();
        assert!(matches!(refused, ApiError::Busy(_)), "{refused}");
        assert!(
            refused
                .to_string()
                .contains("--max-bytes-in-flight-per-client")
        );
        assert_eq!(started.elapsed(), BUDGET_WAIT);
        // …while another client gets its share at once, up to the whole.
        let started = tokio::time::Instant::now();
        let honest_shares: Vec<Share> =
            futures_util::future::join_all((0..3).map(|_| budget.reserve(honest, 5 * MIB)))
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(started.elapsed(), std::time::Duration::ZERO);
        drop((held, honest_shares));
        assert!(budget.reserve(attacker, 16 * MIB).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_clients_shares_are_forgotten_once_many_were_seen() {
        let budget = ReadBudget::new(1 << 20, 1 << 20);
        for i in 0..FORGET_IDLE_CLIENTS_AT + 10 {
            let ip = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            drop(budget.reserve(ip, 1024).await.unwrap());
        }
        assert!(
            budget.clients() <= FORGET_IDLE_CLIENTS_AT,
            "{}",
            budget.clients()
        );
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
