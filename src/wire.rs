//! The webhook's wire protocol, shared by the exporter's webhook sink and the gateway.
//!
//! A batch is `POST`ed as `{"followUps": [row, …]}` with `Content-Type: application/json`
//! (optionally `Content-Encoding: gzip`) and these headers:
//!
//! - `Idempotency-Key: gf1-<32 hex>` — the first 128 bits of SHA-256 over the batch's NDJSON
//!   rows. The same batch always gets the same key, so a resent batch can be recognised.
//! - `X-Guardrail-Signature: t=<unix seconds>,v1=<hex>,v2=<hex>` when a shared secret is
//!   configured, each a hex HMAC-SHA256 with the secret as key:
//!   - `v2` over `"v2\n" + t + "\n" + Idempotency-Key + "\n" + Content-Encoding + "\n" + body`,
//!     where Content-Encoding is the header's value in lowercase (`gzip`), or empty when the
//!     header is absent, and `body` is the bytes as sent (after gzip, if any). It binds the whole
//!     request: a captured request cannot be sent again under another key or encoding.
//!   - `v1` over `t + "." + body`, the first scheme, kept for receivers that verify only it; it
//!     does not cover the key. The gateway requires `v2`.
//!
//!   A receiver recomputes the HMAC, compares in constant time, and refuses timestamps more than
//!   [`SIGNATURE_TOLERANCE`] away from its clock, so a captured request cannot be replayed later.
//!   Within that window a replay can at most store the same rows again under their own key,
//!   which the gateway turns into a no-op.
//! - `Authorization: Bearer <token>` when a token is configured.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
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

/// What a signature covers: the request's idempotency key, its `Content-Encoding` (lowercase;
/// empty when absent) and its body as sent.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub key: &'a str,
    pub encoding: &'a str,
    pub body: &'a [u8],
}

/// The `X-Guardrail-Signature` value for `request` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: u64, request: Signed<'_>) -> String {
    format!(
        "t={timestamp},v1={},v2={}",
        hex::encode(
            mac_v1(secret, timestamp, request.body)
                .finalize()
                .into_bytes()
        ),
        hex::encode(mac_v2(secret, timestamp, request).finalize().into_bytes())
    )
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Guardrail-Signature header is missing")]
    Missing,
    #[error("the X-Guardrail-Signature header is not `t=<unix seconds>,v1=<hex>,v2=<hex>`")]
    Malformed,
    #[error(
        "the X-Guardrail-Signature has no v2 (which covers the Idempotency-Key and the \
         encoding): upgrade the exporter, or sign as the README's webhook protocol says"
    )]
    NoV2,
    #[error(
        "the signature timestamp is {0} s away from the receiver's clock (at most 300 s allowed): a replay, or a clock to fix"
    )]
    Stale(u64),
    #[error(
        "the signature does not match the request (its body, Idempotency-Key and Content-Encoding): check that sender and receiver share the same secret"
    )]
    Mismatch,
}

/// A signature header's timestamp and `v2` value, read without the body: a header that is
/// missing, malformed, stale or without `v2` is refused before the body is read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    timestamp: u64,
    v2: Vec<u8>,
}

impl SignatureHeader {
    /// Reads the header and checks its timestamp against `now` (unix seconds).
    pub fn parse(header: Option<&str>, now: u64) -> Result<SignatureHeader, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let (mut timestamp, mut v1, mut v2) = (None, None, None);
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
                Some(("v1", v)) => v1 = hex::decode(v).ok(),
                Some(("v2", v)) => v2 = hex::decode(v).ok(),
                _ => {}
            }
        }
        let Some(timestamp) = timestamp else {
            return Err(SignatureError::Malformed);
        };
        let v2 = match (v1, v2) {
            (_, Some(v2)) => v2,
            (Some(_), None) => return Err(SignatureError::NoV2),
            (None, None) => return Err(SignatureError::Malformed),
        };
        let skew = now.abs_diff(timestamp);
        if skew > SIGNATURE_TOLERANCE.as_secs() {
            return Err(SignatureError::Stale(skew));
        }
        Ok(SignatureHeader { timestamp, v2 })
    }

    /// Checks the `v2` HMAC over the request, in constant time.
    pub fn verify(&self, secret: &[u8], request: Signed<'_>) -> Result<(), SignatureError> {
        mac_v2(secret, self.timestamp, request)
            .verify_slice(&self.v2)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Verifies a signature header against `request` at time `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    request: Signed<'_>,
    now: u64,
) -> Result<(), SignatureError> {
    SignatureHeader::parse(header, now)?.verify(secret, request)
}

fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length")
}

fn mac_v1(secret: &[u8], timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = keyed(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn mac_v2(secret: &[u8], timestamp: u64, request: Signed<'_>) -> Hmac<Sha256> {
    let mut mac = keyed(secret);
    for part in [
        "v2",
        &timestamp.to_string(),
        request.key,
        &request.encoding.to_ascii_lowercase(),
    ] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac.update(request.body);
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

    const BODY: &[u8] = b"{\"followUps\":[]}";

    fn request<'a>(key: &'a str, encoding: &'a str, body: &'a [u8]) -> Signed<'a> {
        Signed {
            key,
            encoding,
            body,
        }
    }

    #[test]
    fn a_signature_binds_the_body_the_key_and_the_encoding() {
        let signed = request("gf1-aa", "", BODY);
        let header = sign(b"s3cret", 1_700_000_000, signed);
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert!(header.contains(",v2="), "{header}");
        let check = |secret: &[u8], request, now| verify(secret, Some(&header), request, now);
        assert_eq!(check(b"s3cret", signed, 1_700_000_100), Ok(()));
        for (what, changed) in [
            ("secret", check(b"other", signed, 1_700_000_100)),
            (
                "body",
                check(b"s3cret", request("gf1-aa", "", b"{}"), 1_700_000_100),
            ),
            (
                "key",
                check(b"s3cret", request("gf1-bb", "", BODY), 1_700_000_100),
            ),
            (
                "encoding",
                check(b"s3cret", request("gf1-aa", "gzip", BODY), 1_700_000_100),
            ),
        ] {
            assert_eq!(changed, Err(SignatureError::Mismatch), "{what}");
        }
        assert_eq!(
            check(b"s3cret", signed, 1_700_000_400),
            Err(SignatureError::Stale(400))
        );
    }

    #[test]
    fn a_header_without_v2_or_a_timestamp_is_refused_before_any_body() {
        let v1_only = sign(b"s", 10, request("k", "", BODY));
        let v1_only = &v1_only[..v1_only.find(",v2=").unwrap()];
        assert_eq!(
            SignatureHeader::parse(Some(v1_only), 10),
            Err(SignatureError::NoV2)
        );
        assert_eq!(
            SignatureHeader::parse(Some("v2=zz"), 0),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            SignatureHeader::parse(Some("t=5"), 5),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            SignatureHeader::parse(None, 0),
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
