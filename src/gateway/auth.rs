//! Who may post batches: a request signed with the shared secret (`X-Guardrail-Signature`, see
//! [`crate::wire`]) and/or carrying the bearer token, whichever of the two is configured.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::gateway::error::ApiError;
use crate::wire;

/// The configured credentials. With both set, a request needs both.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    secret: Option<SecretString>,
    token: Option<SecretString>,
}

impl Auth {
    /// Empty values count as unset.
    pub fn new(secret: Option<SecretString>, token: Option<SecretString>) -> Auth {
        let set = |s: Option<SecretString>| s.filter(|s| !s.expose_secret().is_empty());
        Auth {
            secret: set(secret),
            token: set(token),
        }
    }

    /// No authentication at all: only acceptable on a loopback address.
    pub fn is_open(&self) -> bool {
        self.secret.is_none() && self.token.is_none()
    }

    /// Checks the bearer token, before the body is read.
    pub fn check_token(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Err(ApiError::Unauthorized(
                "the Authorization header is missing: send `Authorization: Bearer <token>`".into(),
            ));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(presented) = presented else {
            return Err(ApiError::Unauthorized(
                "the Authorization header is not `Bearer <token>`".into(),
            ));
        };
        if !constant_time_eq(presented.as_bytes(), token.expose_secret().as_bytes()) {
            return Err(ApiError::Unauthorized(
                "the bearer token is not the one this gateway expects".into(),
            ));
        }
        Ok(())
    }

    /// Reads `X-Guardrail-Signature` before the body: a missing, malformed or stale header, or
    /// one without `v2`, is refused without reading a byte of the body. `None` without a secret.
    pub fn signature_header(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<wire::SignatureHeader>, ApiError> {
        if self.secret.is_none() {
            return Ok(None);
        }
        let header = headers
            .get(wire::SIGNATURE)
            // A header that is not text cannot be `t=…,v2=…`: pass it on so it is called malformed.
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        wire::SignatureHeader::parse(header, wire::unix_now())
            .map(Some)
            .map_err(|e| ApiError::Unauthorized(e.to_string()))
    }

    /// Checks the signature over the request as received (its body before gunzip).
    pub fn check_signature(
        &self,
        header: Option<&wire::SignatureHeader>,
        request: wire::Signed<'_>,
    ) -> Result<(), ApiError> {
        match (&self.secret, header) {
            (Some(secret), Some(header)) => header
                .verify(secret.expose_secret().as_bytes(), request)
                .map_err(|e| ApiError::Unauthorized(e.to_string())),
            (Some(_), None) => Err(ApiError::Unauthorized(
                wire::SignatureError::Missing.to_string(),
            )),
            (None, _) => Ok(()),
        }
    }
}

/// Compares two secrets in time independent of where they differ and of their lengths:
/// both are hashed first, then every byte of the digests is compared.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    let difference = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_secrets_compare_equal_and_others_do_not() {
        assert!(constant_time_eq(b"token-1", b"token-1"));
        assert!(!constant_time_eq(b"token-1", b"token-2"));
        assert!(!constant_time_eq(b"token-1", b"token-12"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn empty_credentials_count_as_unset() {
        assert!(Auth::new(Some("".into()), None).is_open());
        assert!(!Auth::new(None, Some("t".into())).is_open());
    }
}
