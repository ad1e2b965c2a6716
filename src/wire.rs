//! The webhook's wire protocol, shared by the exporter's webhook sink and the gateway.
//!
//! A batch is `POST`ed as `{"followUps": [row, …]}` with `Content-Type: application/json`
//! (optionally `Content-Encoding: gzip`) and these headers:
//!
//! - `Idempotency-Key: gf1-<32 hex>` — the first 128 bits of SHA-256 over the batch's NDJSON
//!   rows. The same batch always gets the same key, so a resent batch can be recognised.
//! - `X-Guardrail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>` when a
//!   shared secret is configured. `body` is the bytes as sent (after gzip, if any). A receiver
//!   recomputes the HMAC, compares in constant time, and refuses timestamps more than
//!   [`SIGNATURE_TOLERANCE`] away from its clock, so a captured request cannot be replayed later.
//! - `Authorization: Bearer <token>` when a token is configured.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const SIGNATURE: &str = "X-Guardrail-Signature";

/// How far a signature's timestamp may be from the receiver's clock.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

/// The idempotency key of a batch: `gf1-` and 32 lowercase hex digits.
pub fn idempotency_key(ndjson: &[u8]) -> String {
    let digest = Sha256::digest(ndjson);
    format!("gf1-{}", hex::encode(&digest[..16]))
}

/// Whether `key` is safe to use as an object name: 1–128 of `[A-Za-z0-9_-]`.
pub fn is_valid_idempotency_key(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `X-Guardrail-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Guardrail-Signature header is missing")]
    Missing,
    #[error("the X-Guardrail-Signature header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error(
        "the signature timestamp is {0} s away from the receiver's clock (at most 300 s allowed): a replay, or a clock to fix"
    )]
    Stale(u64),
    #[error(
        "the signature does not match the body: check that sender and receiver share the same secret"
    )]
    Mismatch,
}

/// Verifies a signature header against `body` at time `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: u64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
            Some(("v1", v)) => signature = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Malformed);
    };
    let skew = now.abs_diff(timestamp);
    if skew > SIGNATURE_TOLERANCE.as_secs() {
        return Err(SignatureError::Stale(skew));
    }
    mac(secret, timestamp, body)
        .verify_slice(&signature)
        .map_err(|_| SignatureError::Mismatch)
}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Seconds since the Unix epoch on this machine's clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let header = sign(b"s3cret", 1_700_000_000, b"{\"followUps\":[]}");
        assert!(header.starts_with("t=1700000000,v1="));
        let check = |secret: &[u8], body: &[u8], now| verify(secret, Some(&header), body, now);
        let body = b"{\"followUps\":[]}";
        assert_eq!(check(b"s3cret", body, 1_700_000_100), Ok(()));
        assert_eq!(
            check(b"other", body, 1_700_000_100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"s3cret", b"{\"followUps\":[1]}", 1_700_000_100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"s3cret", body, 1_700_000_400),
            Err(SignatureError::Stale(400))
        );
        assert_eq!(
            verify(b"s3cret", Some("v1=zz"), b"", 0),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"s3cret", None, b"", 0),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn the_same_batch_gets_the_same_key() {
        let key = idempotency_key(b"{\"a\":1}\n");
        assert_eq!(key, idempotency_key(b"{\"a\":1}\n"));
        assert_ne!(key, idempotency_key(b"{\"a\":2}\n"));
        assert_eq!(key.len(), 36);
        assert!(is_valid_idempotency_key(&key));
        assert!(!is_valid_idempotency_key("../etc/passwd"));
    }
}
