//! Who may use the page: a signed session cookie, given by the login form when a password is
//! configured, or to any browser on this machine when none is (loopback only).
//!
//! The cookie is `<expiry>.<id>.<HMAC-SHA256(key, expiry, id, SHA-256(password))>`: the server
//! keeps no session table, a cookie cannot be forged or extended without the key, and changing
//! the password signs everybody out. It is `HttpOnly`, `SameSite=Lax`, and `Secure` when the
//! page listens beyond loopback (it is then served over HTTPS by a reverse proxy).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::admin::config::AuthConfig;
use crate::admin::pages;
use crate::admin::{AdminState, LOGIN_PATH};

type HmacSha256 = Hmac<Sha256>;

pub const SESSION_COOKIE: &str = "guardrail_admin_session";
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per minute (for the whole server) before it answers 429.
const LOGIN_FAILURES_PER_MINUTE: usize = 10;

/// What a login attempt gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Accepted,
    Refused,
    /// Too many failures lately: the password was not even checked.
    Throttled,
}

/// A signed-in browser. `id` is random and binds the CSRF token and flash messages to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
}

#[derive(Debug)]
pub struct Sessions {
    key: [u8; 32],
    password: Option<SecretString>,
    secure: bool,
    login_failures: Mutex<VecDeque<Instant>>,
}

impl Sessions {
    pub fn new(auth: &AuthConfig) -> Sessions {
        Sessions {
            key: auth.key,
            password: auth.password.clone(),
            secure: auth.secure_cookies,
            login_failures: Mutex::default(),
        }
    }

    /// No password: anyone who reaches the (loopback-only) page is signed in.
    pub fn is_open(&self) -> bool {
        self.password.is_none()
    }

    /// An HMAC over `parts`, each ended by a NUL so that no two lists sign alike.
    pub fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
            mac.update(b"\0");
        }
        mac
    }

    fn session_mac(&self, expires: &str, id: &str) -> HmacSha256 {
        let password = self
            .password
            .as_ref()
            .map(|p| Sha256::digest(p.expose_secret().as_bytes()).to_vec())
            .unwrap_or_default();
        self.mac(&[b"session", expires.as_bytes(), id.as_bytes(), &password])
    }

    /// A new session and the `Set-Cookie` value that carries it.
    pub fn issue(&self, now: DateTime<Utc>) -> (Session, HeaderValue) {
        let mut id = [0u8; 16];
        rand::Rng::fill(&mut rand::rng(), &mut id);
        let id = hex::encode(id);
        let expires = (now + SESSION_LIFETIME).timestamp().to_string();
        let signature = hex::encode(self.session_mac(&expires, &id).finalize().into_bytes());
        let cookie = self.cookie(
            &format!("{expires}.{id}.{signature}"),
            SESSION_LIFETIME.as_secs(),
        );
        (Session { id }, cookie)
    }

    /// The `Set-Cookie` value that signs the browser out.
    pub fn clearing_cookie(&self) -> HeaderValue {
        self.cookie("", 0)
    }

    fn cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        ))
        .expect("cookie text is ASCII")
    }

    /// The valid, unexpired session the request's cookie carries, if any.
    pub fn from_headers(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Option<Session> {
        let value = cookie_value(headers, SESSION_COOKIE)?;
        let mut parts = value.splitn(3, '.');
        let (expires, id, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if expires.parse::<i64>().ok()? <= now.timestamp() {
            return None;
        }
        let signature = hex::decode(signature).ok()?;
        self.session_mac(expires, id)
            .verify_slice(&signature)
            .ok()?;
        Some(Session { id: id.to_owned() })
    }

    /// Checks a login attempt, in constant time. Repeated failures are throttled.
    pub fn check_password(&self, presented: &str) -> Login {
        let Some(password) = &self.password else {
            return Login::Accepted;
        };
        let mut failures = self.login_failures.lock().expect("not poisoned");
        while failures
            .front()
            .is_some_and(|t| t.elapsed() > Duration::from_secs(60))
        {
            failures.pop_front();
        }
        if failures.len() >= LOGIN_FAILURES_PER_MINUTE {
            return Login::Throttled;
        }
        let expected = self
            .mac(&[b"password", password.expose_secret().as_bytes()])
            .finalize()
            .into_bytes();
        let ok = self
            .mac(&[b"password", presented.as_bytes()])
            .verify_slice(&expected)
            .is_ok();
        if ok {
            Login::Accepted
        } else {
            failures.push_back(Instant::now());
            Login::Refused
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Middleware for every protected route: puts the [`Session`] in the request's extensions, or
/// refuses — a page is redirected to the login form, anything else gets 401.
pub async fn require_session(
    State(state): State<Arc<AdminState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let now = Utc::now();
    let sessions = &state.sessions;
    let mut new_cookie = None;
    let session = match sessions.from_headers(request.headers(), now) {
        Some(session) => session,
        None if sessions.is_open() => {
            // Without a password only this machine may use the page; a Host that is not a
            // loopback name means a browser was pointed here by a foreign page (DNS rebinding).
            if !host_is_loopback(&request) {
                return pages::message(
                    StatusCode::FORBIDDEN,
                    "Not available",
                    "Without a password this page only answers requests addressed to \
                     localhost or 127.0.0.1.",
                );
            }
            let (session, cookie) = sessions.issue(now);
            new_cookie = Some(cookie);
            session
        }
        None => {
            let path = request.uri().path();
            if request.method() == Method::GET && (path == "/" || path.starts_with("/admin/")) {
                return Redirect::to(LOGIN_PATH).into_response();
            }
            return pages::sign_in_first();
        }
    };
    request.extensions_mut().insert(session);
    let mut response = next.run(request).await;
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn host_is_loopback(request: &Request) -> bool {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(Authority::as_str));
    let Some(host) = host else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(password: Option<&str>) -> Sessions {
        Sessions::new(&AuthConfig {
            password: password.map(SecretString::from),
            key: [7; 32],
            secure_cookies: false,
        })
    }

    fn headers_with(cookie: &HeaderValue) -> HeaderMap {
        let value = cookie.to_str().unwrap().split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn an_issued_session_is_recognised_until_it_expires() {
        let sessions = sessions(Some("pw"));
        let now = Utc::now();
        let (session, cookie) = sessions.issue(now);
        let headers = headers_with(&cookie);
        assert_eq!(sessions.from_headers(&headers, now), Some(session));
        let later = now + chrono::Duration::from_std(SESSION_LIFETIME).unwrap();
        assert_eq!(sessions.from_headers(&headers, later), None);
    }

    #[test]
    fn a_tampered_or_foreign_cookie_is_refused() {
        let now = Utc::now();
        let (_, cookie) = sessions(Some("pw")).issue(now);
        let text = cookie.to_str().unwrap().replacen('.', ".0", 1);
        let tampered = headers_with(&HeaderValue::from_str(&text).unwrap());
        assert_eq!(sessions(Some("pw")).from_headers(&tampered, now), None);
        // Same key, another password: a password change signs everybody out.
        assert_eq!(
            sessions(Some("new")).from_headers(&headers_with(&cookie), now),
            None
        );
    }

    #[test]
    fn failed_logins_are_throttled() {
        let sessions = sessions(Some("right"));
        assert_eq!(sessions.check_password("right"), Login::Accepted);
        for _ in 0..LOGIN_FAILURES_PER_MINUTE {
            assert_eq!(sessions.check_password("wrong"), Login::Refused);
        }
        assert_eq!(sessions.check_password("right"), Login::Throttled);
    }
}
