//! `s3://` status and download URLs, read with the page's own AWS settings from the test S3
//! server, and the card of a setup whose export has never run.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use super::{NDJSON, card_html, unescape};
use crate::helpers::admin_server::{
    AdminProcess, PASSWORD, client, get_download, minutes_ago, sign_in, spawn_router, status_json,
};
use crate::helpers::browser::Browser;
use crate::helpers::s3::{TestBucket, s3_endpoint};
use guardrail_followups::admin::source::StatusSource;

async fn put(bucket: &TestBucket, key: &str, bytes: impl Into<Vec<u8>>) {
    bucket
        .store
        .put(&ObjectPath::from(key), PutPayload::from(bytes.into()))
        .await
        .unwrap();
}

/// The real binary reading its status from `status_url`, with the test S3 server as its
/// endpoint (credentials and region come from the suite's `AWS_*` variables).
async fn admin_on_s3(status_url: &str) -> AdminProcess {
    let endpoint = s3_endpoint();
    AdminProcess::start(
        &["--status-cache-seconds", "0"],
        &[
            ("GUARDRAIL_EXPORT_STATUS_URL", status_url),
            ("GUARDRAIL_ADMIN_S3_ENDPOINT", &endpoint),
            ("GUARDRAIL_ADMIN_PASSWORD", PASSWORD),
        ],
    )
    .await
}

#[tokio::test]
async fn with_only_s3_urls_the_card_shows_the_status_and_the_download_is_the_objects_bytes() {
    let bucket = TestBucket::new().await;
    let download = bucket.uri("exports/latest.ndjson");
    put(&bucket, "exports/latest.ndjson", NDJSON).await;
    put(
        &bucket,
        "guardrail/status.json",
        status_json(&minutes_ago(12), Some(&download)),
    )
    .await;
    let admin = admin_on_s3(&bucket.uri("guardrail/status.json")).await;

    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;
    assert_eq!(browser.text("#health").await, "Healthy");
    assert_eq!(browser.text("#fact-rows .value").await, "842");
    assert!(
        browser
            .text(".source")
            .await
            .contains(&bucket.uri("guardrail/status.json")),
        "the card names where the status was read"
    );
    browser.element("#download").await.click().await.unwrap();
    let (name, bytes) = browser.downloaded_file().await;
    assert_eq!(name, "guardrail-followups-20260122T040000Z.ndjson");
    assert_eq!(String::from_utf8(bytes).unwrap(), NDJSON);
    browser.close().await;

    let http = client();
    let cookie = sign_in(&http, &admin.base).await;
    let response = get_download(&http, &admin.base, &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"guardrail-followups-20260122T040000Z.ndjson\""
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-length"], NDJSON.len().to_string());
    assert_eq!(response.bytes().await.unwrap(), NDJSON.as_bytes());

    // The status now names an object that is not there: answered as an upstream 404 is.
    let missing = bucket.uri("exports/gone.ndjson");
    put(
        &bucket,
        "guardrail/status.json",
        status_json(&minutes_ago(1), Some(&missing)),
    )
    .await;
    let response = get_download(&http, &admin.base, &cookie).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = unescape(&response.text().await.unwrap());
    assert!(
        body.contains(&format!(
            "The export file could not be fetched: {missing} does not exist."
        )),
        "{body}"
    );
}

#[tokio::test]
async fn a_status_that_does_not_exist_yet_is_the_never_run_card_and_garbage_is_still_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("status.json");
    let admin = AdminProcess::start(
        &["--status-cache-seconds", "0"],
        &[
            ("GUARDRAIL_EXPORT_STATUS_URL", path.to_str().unwrap()),
            ("GUARDRAIL_ADMIN_PASSWORD", PASSWORD),
        ],
    )
    .await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;
    assert_eq!(browser.text("#health").await, "Never run");
    let badge = browser
        .element("#health")
        .await
        .attr("class")
        .await
        .unwrap();
    assert_eq!(badge.as_deref(), Some("badge badge-neutral"));
    let notice = browser.text("#never-run").await;
    assert!(
        notice.starts_with(
            "No export has run yet: run `guardrail-followups export` where the exporter is \
             configured, or dispatch the export workflow."
        ) && notice.contains("No such file or directory"),
        "{notice}"
    );
    assert!(!browser.is_present("#status-unreadable").await);
    assert!(browser.is_present("#download-unavailable").await);
    assert_eq!(
        browser.text("#download-hint").await,
        "Download unavailable: no export has run yet."
    );

    std::fs::write(&path, "not json at all").unwrap();
    browser.goto(&format!("{}/admin/reports", admin.base)).await;
    assert_eq!(browser.text("#health").await, "Status unreadable");
    assert!(!browser.is_present("#never-run").await);
    assert!(
        browser
            .text("#status-unreadable")
            .await
            .contains("the status is not JSON")
    );
    browser.close().await;

    let bucket = TestBucket::new().await;
    let admin = admin_on_s3(&bucket.uri("guardrail/status.json")).await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;
    assert_eq!(browser.text("#health").await, "Never run");
    assert!(
        browser
            .text("#never-run")
            .await
            .starts_with("No export has run yet")
    );
    assert!(!browser.is_present("#status-unreadable").await);
    browser.close().await;

    let http = client();
    let cookie = sign_in(&http, &admin.base).await;
    let response = get_download(&http, &admin.base, &cookie).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        unescape(&response.text().await.unwrap())
            .contains("No export has run yet, so there is no file to download.")
    );
}

#[tokio::test]
async fn an_http_status_answering_404_is_never_run_and_500_is_unreadable() {
    let router = Router::new().route(
        "/status/500",
        get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
    );
    let host = spawn_router(router).await;
    let source = |path: &str| StatusSource::parse(&format!("{host}{path}")).unwrap();

    let html = unescape(&card_html(source("/status/missing.json")).await);
    assert!(
        html.contains(">Never run<")
            && html.contains("No export has run yet")
            && html.contains("/status/missing.json answered 404 Not Found")
            && !html.contains("Status unreadable"),
        "{html}"
    );
    let html = unescape(&card_html(source("/status/500")).await);
    assert!(
        html.contains(">Status unreadable<") && !html.contains("No export has run yet"),
        "{html}"
    );
}
