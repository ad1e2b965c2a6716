//! Who may use the page: a signed session cookie, given by the login form when a password is
//! configured, or to any browser on this machine when none is (loopback only).
//!
//! The cookie is `<expiry>.<id>.<HMAC-SHA256(key, expiry, id, SHA-256(password))>`: the server
//! keeps no session table, a cookie cannot be forged or extended without the key, and changing
//! the password signs everybody out. It is `HttpOnly`, `SameSite=Lax`, and `Secure` when the
//! page listens beyond loopback (it is then served over HTTPS by a reverse proxy). Signing out
//! revokes the session's id on this server ([`Revocations`]); failed logins are throttled per
//! client ([`LoginThrottle`]).
//!
//! Written by hand rather than with tower-sessions: that crate keeps sessions in a store (in
//! memory, lost on restart, or a database this page does not otherwise need), and a signed
//! cookie jar (axum-extra) would not tie the signature to the password. The HMAC is the `hmac`
//! crate's; what is here is the cookie's layout and its checks.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::admin::config::AuthConfig;
use crate::admin::pages;
use crate::admin::revoked::Revocations;
use crate::admin::throttle::LoginThrottle;
use crate::admin::{AdminState, LOGIN_PATH};

type HmacSha256 = Hmac<Sha256>;

pub const SESSION_COOKIE: &str = "guardrail_admin_session";
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// What a login attempt gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Accepted,
    Refused,
    /// Too many failures lately (from this client, or from everyone): the password was not
    /// even checked. Try again after `retry_after`.
    Throttled {
        retry_after: Duration,
    },
}

/// A signed-in browser. `id` is random and binds the CSRF token and flash messages to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// When its cookie expires (Unix seconds).
    pub expires: i64,
}

#[derive(Debug)]
pub struct Sessions {
    key: [u8; 32],
    password: Option<SecretString>,
    secure: bool,
    throttle: Mutex<LoginThrottle>,
    revoked: Mutex<Revocations>,
}

impl Sessions {
    pub fn new(auth: &AuthConfig) -> Sessions {
        Sessions {
            key: auth.key,
            password: auth.password.clone(),
            secure: auth.secure_cookies,
            throttle: Mutex::default(),
            revoked: Mutex::default(),
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
        rand::RngExt::fill(&mut rand::rng(), &mut id);
        let id = hex::encode(id);
        let expires = (now + SESSION_LIFETIME).timestamp();
        let signature = hex::encode(
            self.session_mac(&expires.to_string(), &id)
                .finalize()
                .into_bytes(),
        );
        let cookie = self.cookie(
            &format!("{expires}.{id}.{signature}"),
            SESSION_LIFETIME.as_secs(),
        );
        (Session { id, expires }, cookie)
    }

    /// Signs `session` out on this server: its cookie is refused from now on, wherever it is.
    pub fn revoke(&self, session: &Session, now: DateTime<Utc>) {
        self.revoked.lock().expect("not poisoned").revoke(
            &session.id,
            session.expires,
            now.timestamp(),
        );
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
        let (expires_text, id, signature) = (parts.next()?, parts.next()?, parts.next()?);
        let expires = expires_text.parse::<i64>().ok()?;
        if expires <= now.timestamp() {
            return None;
        }
        let signature = hex::decode(signature).ok()?;
        self.session_mac(expires_text, id)
            .verify_slice(&signature)
            .ok()?;
        if self
            .revoked
            .lock()
            .expect("not poisoned")
            .is_revoked(id, expires)
        {
            return None;
        }
        Some(Session {
            id: id.to_owned(),
            expires,
        })
    }

    /// Checks a login attempt from `client`, in constant time. A client that keeps failing
    /// has to wait longer and longer before its next attempt is checked.
    pub fn check_password(&self, presented: &str, client: IpAddr) -> Login {
        self.check_password_at(presented, client, Instant::now())
    }

    fn check_password_at(&self, presented: &str, client: IpAddr, now: Instant) -> Login {
        let Some(password) = &self.password else {
            return Login::Accepted;
        };
        // Held while checking, so that parallel guesses are counted one after the other.
        let mut throttle = self.throttle.lock().expect("not poisoned");
        if let Err(retry_after) = throttle.admit(client, now) {
            return Login::Throttled { retry_after };
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
            throttle.succeeded(client);
            Login::Accepted
        } else {
            let wait = throttle.failed(client, now);
            if !wait.is_zero() {
                tracing::warn!(
                    client = %client,
                    "too many failed admin logins from {client}: its next attempt is checked \
                     in {} s at the earliest",
                    wait.as_secs_f64().ceil()
                );
            }
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

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const LOGIN_FAILURES_PER_MINUTE: u32 = crate::admin::throttle::Policy::DEFAULT.free_failures;

    #[test]
    fn failed_logins_are_throttled() {
        let sessions = sessions(Some("right"));
        assert_eq!(sessions.check_password("right", CLIENT), Login::Accepted);
        for _ in 0..LOGIN_FAILURES_PER_MINUTE {
            assert_eq!(sessions.check_password("wrong", CLIENT), Login::Refused);
        }
        assert!(matches!(
            sessions.check_password("right", CLIENT),
            Login::Throttled { .. }
        ));
    }

    #[test]
    fn another_clients_failures_never_lock_out_the_right_password() {
        let sessions = sessions(Some("right"));
        let now = Instant::now();
        let attacker = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 66));
        let mut throttled = 0;
        for i in 0..100 {
            let at = now + Duration::from_millis(i * 10);
            match sessions.check_password_at("wrong", attacker, at) {
                Login::Refused => {}
                Login::Throttled { retry_after } => {
                    assert!(retry_after > Duration::ZERO);
                    throttled += 1;
                }
                Login::Accepted => panic!("a wrong password was accepted"),
            }
            // The attacker's own right guess waits like the others: it is not even checked.
        }
        assert!(throttled >= 80, "{throttled}");
        let at = now + Duration::from_secs(1);
        assert_eq!(
            sessions.check_password_at("right", CLIENT, at),
            Login::Accepted
        );
        assert!(matches!(
            sessions.check_password_at("right", attacker, at),
            Login::Throttled { .. }
        ));
    }

    #[test]
    fn a_signed_out_session_is_refused_and_others_are_not() {
        let sessions = sessions(Some("pw"));
        let now = Utc::now();
        let (session, cookie) = sessions.issue(now);
        let (other, other_cookie) = sessions.issue(now);
        sessions.revoke(&session, now);
        assert_eq!(sessions.from_headers(&headers_with(&cookie), now), None);
        assert_eq!(
            sessions.from_headers(&headers_with(&other_cookie), now),
            Some(other)
        );
    }
}
