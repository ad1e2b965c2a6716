//! Refusing state-changing requests sent by other sites (signing in, "Run export now", signing
//! out), whatever else they carry.
//!
//! A browser says where a POST comes from in `Origin` (or, when it sends none, `Referer`); it
//! must be this page's own scheme, host and port ([`crate::admin::client::page_address`]).
//! This page's own forms are sent with `Origin: null`, because every page has
//! `Referrer-Policy: no-referrer`; such an opaque origin proves nothing either way, so then the
//! browser's `Sec-Fetch-Site` decides. A request with none of these headers is not from a
//! browser (curl, a script) and passes: it still needs its session and, for the forms, the
//! CSRF token.

use axum::http::{HeaderMap, header};
use url::Url;

/// `Err` says why the request is refused, in words for the page.
pub fn check(headers: &HeaderMap, scheme: &str, host: Option<&str>) -> Result<(), String> {
    let claimed = match header_text(headers, header::ORIGIN.as_str()) {
        Some("null") => None,
        Some(origin) => Some(("Origin", origin)),
        None => header_text(headers, header::REFERER.as_str()).map(|r| ("Referer", r)),
    };
    if let Some((name, value)) = claimed {
        let Some(host) = host else {
            return Err(format!(
                "the request has an {name} ({value}) but no Host to compare it with"
            ));
        };
        let ours = origin_of(&format!("{scheme}://{host}"));
        let theirs = origin_of(value);
        if ours.is_none() || ours != theirs {
            return Err(format!(
                "the request came from another site: its {name} is {}, this page is {scheme}://{host}",
                shown(value)
            ));
        }
    }
    let site = header_text(headers, "sec-fetch-site").unwrap_or("none");
    if !matches!(site, "same-origin" | "none") {
        return Err("the request came from another site".into());
    }
    Ok(())
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("(not text)").trim())
}

/// Scheme, host and port (the default port of the scheme when none is written).
fn origin_of(text: &str) -> Option<(String, String, u16)> {
    let url = Url::parse(text).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some((url.scheme().to_owned(), host, url.port_or_known_default()?))
}

/// A Referer may carry a path and query: only its origin is repeated on the page.
fn shown(value: &str) -> String {
    match Url::parse(value) {
        Ok(url) => url.origin().ascii_serialization(),
        Err(_) => value.chars().take(100).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    const HOST: Option<&str> = Some("127.0.0.1:8081");

    #[test]
    fn only_this_pages_own_origin_passes() {
        let ok = [
            vec![],
            vec![("origin", "http://127.0.0.1:8081")],
            vec![("origin", "null"), ("sec-fetch-site", "same-origin")],
            vec![("referer", "http://127.0.0.1:8081/admin/reports?x=1")],
        ];
        for pairs in ok {
            assert_eq!(check(&headers(&pairs), "http", HOST), Ok(()), "{pairs:?}");
        }
        let refused = [
            vec![("origin", "http://evil.example")],
            vec![("origin", "https://127.0.0.1:8081")],
            vec![("origin", "http://127.0.0.1:9999")],
            vec![("origin", "not a url")],
            vec![("referer", "http://evil.example/page")],
            vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
        ];
        for pairs in refused {
            assert!(check(&headers(&pairs), "http", HOST).is_err(), "{pairs:?}");
        }
        let evil = check(&headers(&[("origin", "http://evil.example")]), "http", HOST);
        assert_eq!(
            evil.unwrap_err(),
            "the request came from another site: its Origin is http://evil.example, \
             this page is http://127.0.0.1:8081"
        );
    }

    #[test]
    fn default_ports_and_case_do_not_matter() {
        let pairs = [("origin", "https://OPS.example.com")];
        assert_eq!(
            check(&headers(&pairs), "https", Some("ops.example.com:443")),
            Ok(())
        );
        assert!(check(&headers(&pairs), "http", Some("ops.example.com")).is_err());
        assert!(check(&headers(&pairs), "https", None).is_err());
    }
}
