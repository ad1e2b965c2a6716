//! CSRF protection for the forms that change something ("Run export now", "Sign out").
//!
//! The token is an HMAC of the session id under the server's key: a page from another site
//! cannot read it, and it is worth nothing with another session. Requests from another site
//! (their `Origin` or `Referer`, [`crate::admin::origin`]) and requests the browser marks as
//! cross-site (`Sec-Fetch-Site`) are refused even with a token. The handler of such a form takes
//! a [`Checked`] request: extracting it runs the checks.
//!
//! Written by hand: the CSRF crates for axum keep a token per session in a session store or in
//! a second cookie (double submit); an HMAC of the session id under the key the session cookie
//! is signed with needs neither, and is ten lines.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{Form, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::Mac;
use serde::Deserialize;

use crate::admin::auth::{Session, Sessions};
use crate::admin::client::peer;
use crate::admin::{AdminState, pages};

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

/// `Err` says why the token is refused. Where the request comes from is
/// [`crate::admin::origin`]'s to check, which [`Checked`] does first.
pub fn check(sessions: &Sessions, session: &Session, presented: &str) -> Result<(), &'static str> {
    let Ok(presented) = hex::decode(presented.trim()) else {
        return Err("the form's security token is missing or malformed");
    };
    sessions
        .mac(&[b"csrf", session.id.as_bytes()])
        .verify_slice(&presented)
        .map_err(|_| "the form's security token does not belong to this session")
}

/// A form request that passed [`check`]: from this site, with this session's token.
#[derive(Debug, Clone)]
pub struct Checked {
    pub session: Session,
}

/// Why a form request was refused. As a response: 403 with the reason; a handler that must
/// say more takes `Result<Checked, Refused>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub Cow<'static, str>);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        pages::message(StatusCode::FORBIDDEN, "Request refused", &self.0)
    }
}

impl FromRequest<Arc<AdminState>> for Checked {
    type Rejection = Refused;

    /// Reads the form (an unreadable one has no token) of a request on a protected route,
    /// whose session [`crate::admin::auth::require_session`] has put in its extensions.
    async fn from_request(request: Request, state: &Arc<AdminState>) -> Result<Checked, Refused> {
        let Some(session) = request.extensions().get::<Session>().cloned() else {
            return Err(Refused("the request has no session".into()));
        };
        let headers = request.headers().clone();
        state
            .check_origin(peer(&request), &headers)
            .map_err(|reason| Refused(reason.into()))?;
        let presented = Form::<TokenForm>::from_request(request, state)
            .await
            .map(|Form(form)| form.csrf_token)
            .unwrap_or_default();
        check(&state.sessions, &session, &presented).map_err(|reason| Refused(reason.into()))?;
        Ok(Checked { session })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::config::AuthConfig;

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
        assert_eq!(check(&sessions, &mine, &good), Ok(()));
        assert!(check(&sessions, &other, &good).is_err());
        assert!(check(&sessions, &mine, "").is_err());
        assert!(check(&sessions, &mine, "not hex").is_err());
    }
}
