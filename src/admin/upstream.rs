//! The HTTP clients the admin page uses to reach other servers, and their redirect policy.
//!
//! The status and download URLs come from configuration and from the status document, never
//! from the browser. Redirects are followed only within the same origin (scheme, host and
//! port): a presigned or proxied URL that bounces to its own host keeps working, while a
//! redirect to another host — an internal address, a metadata endpoint — is refused instead of
//! being fetched and streamed to the browser. The trigger follows no redirect at all, so its
//! bearer token goes to the configured URL and nowhere else.

use std::time::Duration;

use reqwest::redirect::{Attempt, Policy};

const USER_AGENT: &str = concat!("guardrail-followups-admin/", env!("CARGO_PKG_VERSION"));
const MAX_REDIRECTS: usize = 5;

/// For the status document: small, so a whole-request timeout is fine.
pub fn status_client() -> reqwest::Result<reqwest::Client> {
    builder()
        .timeout(Duration::from_secs(15))
        .redirect(same_origin_redirects())
        .build()
}

/// For the NDJSON download: no overall timeout, since a large file takes as long as it takes,
/// but a stalled upstream (nothing for a minute) is given up.
pub fn download_client() -> reqwest::Result<reqwest::Client> {
    builder()
        .read_timeout(Duration::from_secs(60))
        .redirect(same_origin_redirects())
        .build()
}

/// For the workflow dispatch: no redirects (the token must not travel), 30 s at most.
pub fn trigger_client() -> reqwest::Result<reqwest::Client> {
    builder()
        .timeout(Duration::from_secs(30))
        .redirect(Policy::none())
        .build()
}

/// What every client shares: who is asking, and 10 s to connect.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(10))
}

fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt: Attempt<'_>| {
        let first = &attempt.previous()[0];
        if attempt.previous().len() > MAX_REDIRECTS {
            let error = format!("more than {MAX_REDIRECTS} redirects");
            attempt.error(error)
        } else if attempt.url().origin() == first.origin() {
            attempt.follow()
        } else {
            let error = format!(
                "refused to follow a redirect from {} to another origin ({})",
                first.origin().ascii_serialization(),
                attempt.url().origin().ascii_serialization()
            );
            attempt.error(error)
        }
    })
}

/// `text` as an absolute http(s) URL with a host.
pub fn http_url(text: &str) -> Option<url::Url> {
    crate::status::HttpUrl::parse(text).map(|u| u.0)
}
