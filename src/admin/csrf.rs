//! CSRF protection for the forms that change something ("Run export now", "Sign out").
//!
//! The token is an HMAC of the session id under the server's key: a page from another site
//! cannot read it, and it is worth nothing with another session. Requests the browser marks as
//! cross-site (`Sec-Fetch-Site`) are refused even with a token.

use axum::http::HeaderMap;
use hmac::Mac;
use serde::Deserialize;

use crate::admin::auth::{Session, Sessions};

/// The hidden form field that carries the token.
pub const FIELD: &str = "csrf_token";

/// A form whose only field that matters is the CSRF token.
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub csrf_token: String,
}

pub fn token(sessions: &Sessions, session: &Session) -> String {
    hex::encode(
        sessions
            .mac(&[b"csrf", session.id.as_bytes()])
            .finalize()
            .into_bytes(),
    )
}

/// `Err` says why the request is refused.
pub fn check(
    sessions: &Sessions,
    session: &Session,
    headers: &HeaderMap,
    presented: &str,
) -> Result<(), &'static str> {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    if !matches!(site, "same-origin" | "none") {
        return Err("the request came from another site");
    }
    let Ok(presented) = hex::decode(presented.trim()) else {
        return Err("the form's security token is missing or malformed");
    };
    sessions
        .mac(&[b"csrf", session.id.as_bytes()])
        .verify_slice(&presented)
        .map_err(|_| "the form's security token does not belong to this session")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::config::AuthConfig;
    use axum::http::HeaderValue;

    #[test]
    fn only_this_sessions_token_from_this_site_passes() {
        let sessions = Sessions::new(&AuthConfig {
            password: None,
            key: [1; 32],
            secure_cookies: false,
        });
        let (mine, _) = sessions.issue(chrono::Utc::now());
        let (other, _) = sessions.issue(chrono::Utc::now());
        let good = token(&sessions, &mine);
        let mut headers = HeaderMap::new();
        assert_eq!(check(&sessions, &mine, &headers, &good), Ok(()));
        assert!(check(&sessions, &other, &headers, &good).is_err());
        assert!(check(&sessions, &mine, &headers, "").is_err());
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check(&sessions, &mine, &headers, &good).is_err());
    }
}
