//! The admin page: the card in a real headless Chromium, the download proxy, the trigger, and
//! who may use them. Shared fixtures live here; the tests are in `admin/`.

mod access;
mod alerts;
mod card;
mod card_v2;
mod clicks;
mod download;
mod hostile;
mod s3;
mod same_host;
mod screenshots;
mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use guardrail_followups::admin::router;
use guardrail_followups::admin::source::StatusSource;

use crate::helpers::admin_server::{
    AdminProcess, PASSWORD, client, config, sign_in, spawn_router, state,
};

pub const NDJSON: &str = concat!(
    r#"{"followUpId":"2ff22314-0d12-4c7d-a4bd-e1ecb67e3fe2","providerId":"provider-420","action":"pause","createdAt":"2026-01-22T03:59:59.000000Z"}"#,
    "\n",
    r#"{"followUpId":"9d3c7c1e-3f39-4c53-9a52-0b1f3c1d2e4f","providerId":"provider-7","action":"resume","createdAt":"2026-01-22T04:00:00.000000Z"}"#,
    "\n",
);

/// A file host standing in for S3: `/exports/latest.ndjson`, counting the requests it gets.
pub async fn file_host() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let router = Router::new().route(
        "/exports/latest.ndjson",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { ([("content-type", "application/octet-stream")], NDJSON) }
        }),
    );
    (spawn_router(router).await, hits)
}

/// Runs the real binary with the status file in `dir` and the environment `env`.
pub async fn admin_process(dir: &std::path::Path, env: &[(&str, &str)]) -> AdminProcess {
    let status = dir.join("status.json");
    let mut all = vec![
        ("GUARDRAIL_EXPORT_STATUS_URL", status.to_str().unwrap()),
        ("GUARDRAIL_ADMIN_PASSWORD", PASSWORD),
    ];
    all.extend_from_slice(env);
    AdminProcess::start(&[], &all).await
}

/// The report page for a status read from `source`, signed in; never a 500.
pub async fn card_html(source: StatusSource) -> String {
    let base = spawn_router(router(state(config(Some(source), None)))).await;
    let http = client();
    let cookie = sign_in(&http, &base).await;
    let response = http
        .get(format!("{base}/admin/reports"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("Guardrail export health"));
    let download = http
        .get(format!("{base}/api/reporting/guardrail-followups/export"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_ne!(
        download.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "download: never a 500"
    );
    html
}

pub fn unescape(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}
