//! Tolerant reading of the status: wrong types, missing keys, garbage and failing URLs make a
//! sensible card, never a 500.

use axum::Router;
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::get;
use guardrail_followups::admin::source::StatusSource;

use super::{card_html, unescape};
use crate::helpers::admin_server::{spawn_router, status_json};

#[tokio::test]
async fn status_documents_with_wrong_types_missing_keys_or_garbage_render_a_sensible_card() {
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "wrong types everywhere",
            br#"{"cursor": 17, "rows": "lots", "updatedAt": "yesterday",
                 "downloadUrl": "javascript:alert(1)", "workflowUrl": {"href": "x"}}"#
                .to_vec(),
            vec![
                "cursor is the number 17, not a timestamp",
                "rows is the text \"lots\", not a number",
                "updatedAt is the text \"yesterday\", not a timestamp",
                "Download unavailable: downloadUrl is the text \"javascript:alert(1)\", not an absolute file path, an s3://bucket/key or an http(s) URL.",
                "No workflow link: workflowUrl is an object, not an http(s) URL",
                ">Unknown<",
            ],
        ),
        (
            "rows as a numeric string, extra keys, runbook timestamps",
            br#"{"cursor": "2026-01-22T04:00:00Z", "rows": "1234", "updatedAt": "2026-01-22T04:05:09Z",
                 "lateRows": 3, "totalRows": "x", "downloadUrl": null, "workflowUrl": null}"#
                .to_vec(),
            vec![">1,234<", ">2026-01-22T04:00:00Z<", ">Stale<", "the last export published no file"],
        ),
        (
            "an empty object",
            b"{}".to_vec(),
            vec![
                "the status has no rows",
                "the status has no cursor",
                "the status has no updatedAt",
                "The status does not say when the export last ran",
            ],
        ),
        (
            "a null cursor before the first export",
            br#"{"cursor": null, "rows": 0, "updatedAt": null}"#.to_vec(),
            vec![">none yet<", "the status gives updatedAt: null", ">0<"],
        ),
        (
            "an array",
            b"[1, 2, 3]".to_vec(),
            vec!["the status is an array, not a JSON object", ">Status unreadable<"],
        ),
        (
            "a bare string",
            b"\"2026-01-22T04:00:00Z\"".to_vec(),
            vec!["the status is the text \"2026-01-22T04:00:00Z\", not a JSON object"],
        ),
        (
            "JSON null",
            b"null".to_vec(),
            vec!["the status is null, not a JSON object"],
        ),
        (
            "an HTML error page",
            b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            vec!["the status is not JSON (expected value at line 1 column 1)"],
        ),
        ("an empty file", Vec::new(), vec!["the status is empty"]),
        (
            "binary garbage",
            vec![0xff, 0xfe, 0x00, 0x01, b'{', 0x80],
            vec!["the status is not JSON"],
        ),
        (
            "a huge file",
            vec![b' '; 2 * 1024 * 1024],
            vec!["bytes, more than a status document can be"],
        ),
    ];
    for (case, bytes, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        std::fs::write(&path, &bytes).unwrap();
        let html = unescape(&card_html(StatusSource::File(path)).await);
        for text in expected {
            assert!(html.contains(text), "{case}: expected {text:?} in\n{html}");
        }
        assert!(!html.contains("href=\"javascript:"), "{case}");
    }

    let html = card_html(StatusSource::File("/nonexistent/status.json".into())).await;
    assert!(
        unescape(&html).contains("cannot read /nonexistent/status.json: No such file or directory"),
        "{html}"
    );
}

#[tokio::test]
async fn a_status_url_that_fails_renders_the_card_with_the_reason() {
    let router = Router::new()
        .route(
            "/status/500",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/status/ok",
            get(|| async { status_json("2026-01-22T04:05:09Z", None) }),
        )
        .route(
            "/status/elsewhere",
            get(|| async { Redirect::temporary("http://localhost:9/status.json") }),
        )
        .route(
            "/status/moved",
            get(|| async { Redirect::temporary("/status/ok") }),
        );
    let host = spawn_router(router).await;
    let source = |path: &str| StatusSource::parse(&format!("{host}{path}")).unwrap();

    let html = unescape(&card_html(source("/status/500")).await);
    assert!(
        html.contains("/status/500 answered 500 Internal Server Error"),
        "{html}"
    );
    let html = unescape(&card_html(source("/status/elsewhere")).await);
    assert!(
        html.contains("refused to follow a redirect from") && html.contains("to another origin"),
        "{html}"
    );
    let html = unescape(&card_html(source("/status/moved")).await);
    assert!(
        html.contains(">842<"),
        "a same-origin redirect is followed: {html}"
    );
    let refusing = crate::helpers::server::ClosedPort::new();
    let closed = format!("http://127.0.0.1:{}/status.json", refusing.port);
    let html = unescape(&card_html(StatusSource::parse(&closed).unwrap()).await);
    assert!(html.contains("cannot fetch http://127.0.0.1:"), "{html}");
}
