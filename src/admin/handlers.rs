//! The page handlers: the report card, signing in and out.

use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use crate::admin::LOGIN_PATH;
use crate::admin::auth::{Login, Session};
use crate::admin::client::Peer;
use crate::admin::csrf;
use crate::admin::pages::{self, LoginPage, ReportsPage};
use crate::admin::view;
use crate::admin::{AdminState, REPORTS_PATH};

/// `GET /admin/reports`: the "Guardrail export health" card.
pub async fn reports(
    State(state): State<Arc<AdminState>>,
    Extension(session): Extension<Session>,
) -> Response {
    let snapshot = state.status.get().await;
    let page = ReportsPage {
        card: view::card(&snapshot, &state.card_settings(), Utc::now()),
        flash: state.flashes.take(&session.id),
        csrf_token: csrf::token(&state.sessions, &session),
        sign_out: !state.sessions.is_open(),
    };
    pages::render(StatusCode::OK, &page)
}

pub async fn root() -> Redirect {
    Redirect::to(REPORTS_PATH)
}

/// `GET /admin/login`.
pub async fn login_form(State(state): State<Arc<AdminState>>, headers: HeaderMap) -> Response {
    if state.sessions.is_open() || state.sessions.from_headers(&headers, Utc::now()).is_some() {
        return Redirect::to(REPORTS_PATH).into_response();
    }
    pages::render(StatusCode::OK, &LoginPage { error: None })
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    password: String,
}

/// `POST /admin/login`: a right password gets a session cookie and the report. A client that
/// keeps failing is made to wait (429 with `Retry-After`); another site's form is refused.
pub async fn login(
    State(state): State<Arc<AdminState>>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if let Err(reason) = state.check_origin(peer, &headers) {
        tracing::warn!("refused a login: {reason}");
        return pages::message(
            StatusCode::FORBIDDEN,
            "Request refused",
            &format!(
                "Nobody was signed in: {reason}. Open the login page of this site and sign in there."
            ),
        );
    }
    let client = state.client_address(peer, &headers);
    let presented = form.map(|Form(f)| f.password).unwrap_or_default();
    match state.sessions.check_password(&presented, client) {
        Login::Accepted => {
            let (_, cookie) = state.sessions.issue(Utc::now());
            let mut response = Redirect::to(REPORTS_PATH).into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Login::Refused => {
            tracing::warn!(client = %client, "failed admin login from {client}");
            let error = Some("That password is not right. Try again.".into());
            pages::render(StatusCode::UNAUTHORIZED, &LoginPage { error })
        }
        Login::Throttled { retry_after } => {
            // Whole seconds, rounded up, so that a client that waits as told is checked.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            // Logged when the wait began (see auth.rs); once per refused attempt would let a
            // guesser flood the log.
            tracing::debug!(client = %client, "admin login from {client} throttled: {seconds} s left");
            let error = Some(format!(
                "Too many failed attempts. Wait {seconds} {}, then try again.",
                if seconds == 1 { "second" } else { "seconds" }
            ));
            let mut response = pages::render(StatusCode::TOO_MANY_REQUESTS, &LoginPage { error });
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

/// `POST /admin/logout` (with the CSRF token, so other sites cannot sign people out). The
/// session is revoked on this server, so its cookie stops working even where it was copied.
pub async fn logout(State(state): State<Arc<AdminState>>, form: csrf::Checked) -> Response {
    state.sessions.revoke(&form.session, Utc::now());
    let mut response = Redirect::to(LOGIN_PATH).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.sessions.clearing_cookie());
    response
}

pub async fn not_found() -> Response {
    pages::message(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no page here; the export health card is at /admin/reports.",
    )
}
