//! Each state of the "Guardrail export health" card, as a person sees it in Chromium.

use super::{admin_process, file_host};
use crate::helpers::admin_server::{PASSWORD, minutes_ago, status_file, status_json};
use crate::helpers::browser::Browser;

#[tokio::test]
async fn the_card_of_a_healthy_export_shows_rows_cursor_last_update_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _) = file_host().await;
    let download = format!("{host}/exports/latest.ndjson");
    status_file(dir.path(), &status_json(&minutes_ago(12), Some(&download)));
    let admin = admin_process(dir.path(), &[]).await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;

    assert_eq!(
        browser.text("#export-health-title").await,
        "Guardrail export health"
    );
    assert_eq!(browser.text("#health").await, "Healthy");
    assert_eq!(browser.text("#fact-rows .value").await, "842");
    assert_eq!(
        browser.text("#fact-cursor .value").await,
        "2026-01-22T04:00:00.000000Z"
    );
    assert_eq!(browser.text("#fact-updated .detail").await, "12 min ago");
    assert!(!browser.is_present("#stale-warning").await);
    assert_eq!(
        browser
            .element("#download")
            .await
            .attr("href")
            .await
            .unwrap(),
        Some("/api/reporting/guardrail-followups/export".into()),
        "the button goes through the proxy, not to the upstream URL"
    );
    assert_eq!(
        browser
            .element("#workflow")
            .await
            .attr("href")
            .await
            .unwrap(),
        Some("https://github.com/acme/app/actions/runs/1234567890".into())
    );
    assert!(
        !browser.page_text().await.contains(&host),
        "the upstream URL is not shown"
    );
    browser.close().await;
}

#[tokio::test]
async fn an_export_not_updated_within_the_threshold_is_flagged_stale() {
    let dir = tempfile::tempdir().unwrap();
    status_file(
        dir.path(),
        &status_json(&minutes_ago(5 * 60 + 3), Some("https://x.example/a.ndjson")),
    );
    let admin = admin_process(dir.path(), &[("GUARDRAIL_ADMIN_STALE_AFTER_MINUTES", "90")]).await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;

    assert_eq!(browser.text("#health").await, "Stale");
    let warning = browser.text("#stale-warning").await;
    assert!(
        warning.contains("the last update was 5 h 3 min ago")
            && warning.contains("longer than the 1 h 30 min"),
        "{warning}"
    );
    assert_eq!(browser.text("#fact-updated .detail").await, "5 h 3 min ago");
    browser.close().await;
}

#[tokio::test]
async fn without_a_download_url_the_card_says_download_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    status_file(dir.path(), &status_json(&minutes_ago(3), None));
    let admin = admin_process(dir.path(), &[]).await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;

    assert!(!browser.is_present("#download").await);
    assert_eq!(
        browser.text("#download-unavailable").await,
        "Download unavailable"
    );
    assert_eq!(
        browser.text("#download-hint").await,
        "Download unavailable: the last export published no file."
    );
    // The rest of the card is still there.
    assert_eq!(browser.text("#health").await, "Healthy");
    assert_eq!(browser.text("#fact-rows .value").await, "842");
    browser.close().await;
}

#[tokio::test]
async fn without_trigger_settings_run_export_now_is_disabled_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    status_file(dir.path(), &status_json(&minutes_ago(3), None));
    // A URL without a token is not enough.
    let admin = admin_process(
        dir.path(),
        &[(
            "GUARDRAIL_EXPORT_TRIGGER_URL",
            "https://api.github.com/repos/acme/app/actions/workflows/x.yml/dispatches",
        )],
    )
    .await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;

    let button = browser.element("#run-export").await;
    assert_eq!(button.text().await.unwrap(), "Run export now");
    assert_eq!(
        button.attr("disabled").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        browser.text("#trigger-hint").await,
        "Run export now is not configured. To enable it, set GUARDRAIL_EXPORT_TRIGGER_TOKEN \
         where this page runs, then restart it."
    );
    browser.close().await;
}

#[tokio::test]
async fn an_unreadable_status_is_named_on_the_card_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    status_file(
        dir.path(),
        "{\"cursor\": \"2026-01-22T04:00:00Z\", \"rows\": 8",
    );
    let admin = admin_process(dir.path(), &[]).await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;

    assert_eq!(browser.text("#health").await, "Status unreadable");
    let notice = browser.text("#status-unreadable").await;
    assert!(
        notice.starts_with("The export status could not be read: the status is not JSON (EOF")
            && notice.contains("status.json"),
        "{notice}"
    );
    assert_eq!(browser.text("#fact-rows .value").await, "unknown");
    assert!(browser.is_present("#download-unavailable").await);
    browser.close().await;
}
