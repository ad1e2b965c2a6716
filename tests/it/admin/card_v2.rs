//! The card read from a version 2 status: healthy, behind, failing, from the future, and the
//! strip of the last runs — in Chromium.

use fantoccini::Locator;
use serde_json::{Value, json};

use super::admin_process;
use crate::helpers::admin_server::{AdminProcess, PASSWORD, minutes_ago, status_file, status_json};
use crate::helpers::browser::Browser;

/// A v2 status over the v1 one of the other card tests.
fn v2(updated_at: &str, extra: Value) -> String {
    let mut status: Value =
        serde_json::from_str(&status_json(updated_at, Some("https://x.example/a.ndjson"))).unwrap();
    let object = status.as_object_mut().unwrap();
    for (key, value) in json!({
        "version": 2,
        "outcome": "success",
        "error": null,
        "startedAt": minutes_ago(13),
        "durationSeconds": 4.2,
        "lateRows": 0,
        "pendingRows": 0,
        "lastSuccessAt": updated_at,
        "history": [],
    })
    .as_object()
    .unwrap()
    .iter()
    .chain(extra.as_object().unwrap())
    {
        object.insert(key.clone(), value.clone());
    }
    status.to_string()
}

async fn card(status: &str) -> (Browser, (AdminProcess, tempfile::TempDir)) {
    let dir = tempfile::tempdir().unwrap();
    status_file(dir.path(), status);
    let admin = admin_process(dir.path(), &[]).await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;
    (browser, (admin, dir))
}

#[tokio::test]
async fn a_successful_run_with_nothing_pending_is_healthy() {
    let (browser, _admin) = card(&v2(&minutes_ago(12), json!({}))).await;
    assert_eq!(browser.text("#health").await, "Healthy");
    for notice in [
        "#failure",
        "#behind-warning",
        "#future-warning",
        "#stale-warning",
    ] {
        assert!(!browser.is_present(notice).await, "{notice}");
    }
    assert_eq!(browser.text("#fact-rows .value").await, "842");
    browser.close().await;
}

#[tokio::test]
async fn rows_left_behind_the_cursor_are_behind_with_their_count_and_age() {
    let status = v2(
        &minutes_ago(12),
        json!({"pendingRows": 12345, "oldestPendingAt": minutes_ago(3 * 60 + 20)}),
    );
    let (browser, _admin) = card(&status).await;
    assert_eq!(browser.text("#health").await, "Behind");
    let warning = browser.text("#behind-warning").await;
    assert!(
        warning.contains("12,345 rows were still waiting after the last run")
            && warning.contains("the oldest was created 3 h 20 min ago"),
        "{warning}"
    );
    assert!(!browser.is_present("#failure").await);
    browser.close().await;
}

#[tokio::test]
async fn a_failed_run_shows_its_error_and_the_runbook() {
    let status = v2(
        &minutes_ago(5),
        json!({
            "outcome": "failed",
            "error": "sending batch 1: error sending request for url (http://127.0.0.1:9/ingest)",
            "rows": 0,
            "pendingRows": null,
            "lastSuccessAt": minutes_ago(65),
        }),
    );
    let (browser, _admin) = card(&status).await;
    assert_eq!(browser.text("#health").await, "Failing");
    assert_eq!(
        browser.text("#failure-error").await,
        "sending batch 1: error sending request for url (http://127.0.0.1:9/ingest)"
    );
    let failure = browser.text("#failure").await;
    assert!(
        failure.contains("The last run failed.")
            && failure.contains("The last successful run ended 1 h 5 min ago."),
        "{failure}"
    );
    let link = browser.element("#runbook-link").await;
    assert_eq!(link.text().await.unwrap(), "“When a run fails”");
    assert_eq!(
        link.attr("href").await.unwrap(),
        Some("https://github.com/acme/app/blob/HEAD/docs/runbook.md#when-a-run-fails".into())
    );
    browser.close().await;
}

#[tokio::test]
async fn an_update_ahead_of_the_page_clock_is_flagged_not_healthy() {
    let (browser, _admin) = card(&v2(&minutes_ago(-45), json!({}))).await;
    assert_eq!(browser.text("#health").await, "From the future");
    let warning = browser.text("#future-warning").await;
    assert!(warning.contains("ahead of this page's clock"), "{warning}");
    browser.close().await;
}

#[tokio::test]
async fn the_strip_shows_the_last_48_runs_the_newest_last() {
    let history: Vec<Value> = (0..48)
        .map(|i| {
            let outcome = match i % 8 {
                3 => "failed",
                5 => "interrupted",
                _ => "success",
            };
            json!({
                "startedAt": format!("2026-01-{:02}T{:02}:00:00.000000Z", 20 + i / 24, i % 24),
                "durationSeconds": 3.5,
                "rows": if outcome == "success" { 100 + i } else { 0 },
                "lateRows": 0,
                "outcome": outcome,
            })
        })
        .collect();
    let status = v2(&minutes_ago(12), json!({ "history": history }));
    let (browser, _admin) = card(&status).await;
    let cells = browser
        .client
        .find_all(Locator::Css("#run-history li"))
        .await
        .unwrap();
    assert_eq!(cells.len(), 48);
    assert_eq!(
        browser
            .text("#run-history-title")
            .await
            .split(" oldest")
            .next(),
        Some("Last 48 runs")
    );
    let first = cells[0].attr("aria-label").await.unwrap().unwrap();
    assert_eq!(first, "success: 100 rows, started 2026-01-20 00:00 UTC");
    let third = cells[3].attr("title").await.unwrap().unwrap();
    assert_eq!(third, "failed: 0 rows, started 2026-01-20 03:00 UTC");
    assert_eq!(cells[3].text().await.unwrap(), "✗");
    assert_eq!(
        cells[5].attr("aria-label").await.unwrap().unwrap(),
        "interrupted: 0 rows, started 2026-01-20 05:00 UTC"
    );
    let newest = cells[47].attr("aria-label").await.unwrap().unwrap();
    assert_eq!(newest, "success: 147 rows, started 2026-01-21 23:00 UTC");
    assert_eq!(cells[47].text().await.unwrap(), "✓");
    browser.close().await;
}
