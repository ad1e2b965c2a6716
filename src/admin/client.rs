//! Who is asking: the client's address and the address the browser used for this page.
//!
//! Both come from the connection itself (the peer address; the `Host` header, over plain
//! HTTP). A reverse proxy in front of the page hides them, and says what they were in
//! `X-Forwarded-For`, `X-Forwarded-Host` and `X-Forwarded-Proto` — headers any client can
//! send too. They are believed only when the connection comes from one of the configured
//! trusted proxies (`--trusted-proxy`), never otherwise.

use axum::http::{HeaderMap, header};

pub use crate::server::proxy::{Network, Peer, TrustedProxies, peer};

/// The first value of a forwarded header (a chain of proxies lists one per hop, the first is
/// what the browser used).
fn forwarded<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The scheme and `host[:port]` the browser addressed: `X-Forwarded-Proto` and
/// `X-Forwarded-Host` from a trusted proxy, else `default_scheme` and `Host`.
pub fn page_address<'a>(
    headers: &'a HeaderMap,
    trusted: bool,
    default_scheme: &'a str,
) -> (&'a str, Option<&'a str>) {
    let scheme = trusted
        .then(|| forwarded(headers, "x-forwarded-proto"))
        .flatten()
        .unwrap_or(default_scheme);
    let host = trusted
        .then(|| forwarded(headers, "x-forwarded-host"))
        .flatten()
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    (scheme, host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_page_address_comes_from_forwarded_headers_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8081"));
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("ops.example.com"),
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(
            page_address(&headers, false, "http"),
            ("http", Some("127.0.0.1:8081"))
        );
        assert_eq!(
            page_address(&headers, true, "http"),
            ("https", Some("ops.example.com"))
        );
    }
}
