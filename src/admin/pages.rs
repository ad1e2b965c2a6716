//! The HTML pages, rendered with askama from `templates/` (checked at compile time, every
//! value HTML-escaped), and the small responses built from them.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::admin::LOGIN_PATH;
use crate::admin::flash::Flash;
use crate::admin::view::Card;

#[derive(Template)]
#[template(path = "reports.html", config = "src/admin/askama.toml")]
pub struct ReportsPage {
    pub card: Card,
    pub flash: Option<Flash>,
    pub csrf_token: String,
    /// Show "Sign out" (only when there is a password to sign in with).
    pub sign_out: bool,
}

#[derive(Template)]
#[template(path = "login.html", config = "src/admin/askama.toml")]
pub struct LoginPage {
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html", config = "src/admin/askama.toml")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub link_href: &'a str,
    pub link_text: &'a str,
}

/// The stylesheet every page links to.
pub const STYLESHEET: &str = include_str!("templates/admin.css");

/// Renders `page` with `status`; a rendering failure is logged and answered with an opaque 500.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!("rendering a page failed: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A short page that says what happened, with a way back to the report.
pub fn message(status: StatusCode, title: &str, message: &str) -> Response {
    render(
        status,
        &MessagePage {
            title,
            message,
            link_href: crate::admin::REPORTS_PATH,
            link_text: "Back to the report",
        },
    )
}

/// 401 for a request without a session.
pub fn sign_in_first() -> Response {
    let mut response = render(
        StatusCode::UNAUTHORIZED,
        &MessagePage {
            title: "Sign in first",
            message: "This needs a signed-in session; yours is missing or has expired.",
            link_href: LOGIN_PATH,
            link_text: "Sign in",
        },
    );
    // Not a Basic-auth challenge: the browser is sent to the login form instead.
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("FormLogin realm=\"guardrail-followups admin\""),
    );
    response
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLESHEET,
    )
        .into_response()
}
