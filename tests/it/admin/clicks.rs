//! Clicking the card's buttons in Chromium: the download is saved, the workflow dispatched.

use std::sync::atomic::Ordering;

use super::{NDJSON, admin_process, file_host};
use crate::helpers::admin_server::{
    DispatchStandIn, PASSWORD, TRIGGER_TOKEN, minutes_ago, status_file, status_json,
};
use crate::helpers::browser::Browser;

#[tokio::test]
async fn clicking_download_saves_the_latest_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let (host, hits) = file_host().await;
    let download = format!("{host}/exports/latest.ndjson");
    status_file(dir.path(), &status_json(&minutes_ago(12), Some(&download)));
    let admin = admin_process(dir.path(), &[]).await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;

    browser.element("#download").await.click().await.unwrap();
    let (name, bytes) = browser.downloaded_file().await;
    assert_eq!(name, "guardrail-followups-20260122T040000Z.ndjson");
    assert_eq!(String::from_utf8(bytes).unwrap(), NDJSON);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    browser.close().await;
}

#[tokio::test]
async fn clicking_run_export_now_dispatches_the_workflow_and_shows_success() {
    let dir = tempfile::tempdir().unwrap();
    let status_path = dir.path().join("status.json");
    status_file(dir.path(), &status_json(&minutes_ago(70), None));
    // The stand-in "runs the workflow" at once: it publishes a status with a newer cursor. The
    // page caches the status for an hour, so the card can only show it if the successful
    // dispatch made the page read the status again.
    let publish = {
        let path = status_path.clone();
        move || {
            let newer = status_json(&minutes_ago(0), None)
                .replace("2026-01-22T04:00:00.000000Z", "2026-01-22T05:00:00.000000Z");
            std::fs::write(&path, newer).unwrap();
        }
    };
    let github = DispatchStandIn::start(204, "", publish).await;
    let admin = admin_process(
        dir.path(),
        &[
            ("GUARDRAIL_EXPORT_TRIGGER_URL", &github.url),
            ("GUARDRAIL_EXPORT_TRIGGER_TOKEN", TRIGGER_TOKEN),
            ("GUARDRAIL_ADMIN_STATUS_CACHE_SECONDS", "3600"),
        ],
    )
    .await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;
    assert_eq!(
        browser.text("#fact-cursor .value").await,
        "2026-01-22T04:00:00.000000Z"
    );
    assert!(!browser.page_text().await.contains(TRIGGER_TOKEN));
    // Until then the status is read once an hour: a change is not seen on reload.
    std::fs::write(
        &status_path,
        status_json(&minutes_ago(1), None).replace("04:00:00.000000Z", "04:30:00.000000Z"),
    )
    .unwrap();
    browser.client.refresh().await.unwrap();
    assert_eq!(
        browser.text("#fact-cursor .value").await,
        "2026-01-22T04:00:00.000000Z"
    );

    browser.element("#run-export").await.click().await.unwrap();
    let flash = browser.element("#flash").await;
    assert_eq!(flash.attr("role").await.unwrap().as_deref(), Some("status"));
    let text = flash.text().await.unwrap();
    assert!(
        text.starts_with("Export started. The export workflow was dispatched on main."),
        "{text}"
    );
    assert_eq!(
        browser.client.current_url().await.unwrap().path(),
        "/admin/reports",
        "POST/redirect/GET: a reload does not dispatch again"
    );
    assert_eq!(
        browser.text("#fact-cursor .value").await,
        "2026-01-22T05:00:00.000000Z"
    );

    let requests = github.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {TRIGGER_TOKEN}")
    );
    assert_eq!(request.headers["accept"], "application/vnd.github+json");
    assert_eq!(request.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, serde_json::json!({"ref": "main"}));

    // The message is shown once.
    browser.client.refresh().await.unwrap();
    browser.element("#export-health").await;
    assert!(!browser.is_present("#flash").await);
    browser.close().await;
}

#[tokio::test]
async fn a_dispatch_refused_by_the_endpoint_shows_its_error_message() {
    let dir = tempfile::tempdir().unwrap();
    status_file(dir.path(), &status_json(&minutes_ago(20), None));
    let github = DispatchStandIn::start(
        422,
        r#"{"message":"No ref found for: release-2026","documentation_url":"https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event","status":"422"}"#,
        || {},
    )
    .await;
    let admin = admin_process(
        dir.path(),
        &[
            ("GUARDRAIL_EXPORT_TRIGGER_URL", &github.url),
            ("GUARDRAIL_EXPORT_TRIGGER_TOKEN", TRIGGER_TOKEN),
            ("GUARDRAIL_EXPORT_TRIGGER_REF", "release-2026"),
        ],
    )
    .await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;

    browser.element("#run-export").await.click().await.unwrap();
    let flash = browser.element("#flash").await;
    assert_eq!(flash.attr("role").await.unwrap().as_deref(), Some("alert"));
    let text = flash.text().await.unwrap();
    assert!(
        text.starts_with(
            "The export could not be started. The workflow endpoint answered \
             422 Unprocessable Entity: No ref found for: release-2026."
        ) && text.contains("GUARDRAIL_EXPORT_TRIGGER_REF (release-2026)"),
        "{text}"
    );
    let body: serde_json::Value = serde_json::from_slice(&github.requests()[0].body).unwrap();
    assert_eq!(body, serde_json::json!({"ref": "release-2026"}));
    browser.close().await;
}
