//! The page tells Slack when the feed stops, on the real binary. Slack cannot run here, so a
//! loopback receiver stands in for its incoming webhook (it records each `{"text": …}`); the
//! status, the page and its state file are real.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::routing::post;
use serde_json::Value;

use crate::helpers::admin_server::{
    AdminProcess, PASSWORD, minutes_ago, spawn_router, status_json,
};

/// Stands in for Slack's incoming webhook: records the text of every message.
async fn slack_stand_in() -> (String, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&received);
    let router = Router::new().route(
        "/services/T000/B000/secret-part",
        post(move |Json(body): Json<Value>| {
            let record = Arc::clone(&record);
            async move {
                record
                    .lock()
                    .unwrap()
                    .push(body["text"].as_str().unwrap_or_default().to_owned());
                "ok"
            }
        }),
    );
    let base = spawn_router(router).await;
    (format!("{base}/services/T000/B000/secret-part"), received)
}

/// A version 2 status of a failed run, updated `minutes` ago.
fn failed_status(minutes: i64, error: &str) -> String {
    serde_json::json!({
        "version": 2,
        "outcome": "failed",
        "error": error,
        "rows": 0,
        "cursor": "2026-01-22T04:00:00.000000Z",
        "updatedAt": minutes_ago(minutes),
        "lastSuccessAt": minutes_ago(90),
        "workflowUrl": "https://github.com/acme/app/actions/runs/1234567890",
    })
    .to_string()
}

/// The page with alerts every second, its status uncached, its state kept in `dir`.
async fn alerting_page(dir: &Path, webhook: &str) -> AdminProcess {
    let status = dir.join("status.json");
    let state = dir.join("alert-state.json");
    AdminProcess::start(
        &[],
        &[
            ("GUARDRAIL_EXPORT_STATUS_URL", status.to_str().unwrap()),
            ("GUARDRAIL_ADMIN_PASSWORD", PASSWORD),
            ("GUARDRAIL_ADMIN_STATUS_CACHE_SECONDS", "0"),
            ("GUARDRAIL_ADMIN_ALERT_SLACK_WEBHOOK", webhook),
            ("GUARDRAIL_ADMIN_ALERT_POLL_SECONDS", "1"),
            ("GUARDRAIL_ADMIN_ALERT_STATE_PATH", state.to_str().unwrap()),
        ],
    )
    .await
}

/// Waits (at most `within`) until `received` holds `n` messages; the messages.
async fn until_messages(received: &Mutex<Vec<String>>, n: usize, within: Duration) -> Vec<String> {
    let started = Instant::now();
    loop {
        let messages = received.lock().unwrap().clone();
        if messages.len() >= n || started.elapsed() > within {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls of one second each that must pass without a new message.
const QUIET_POLLS: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_status_is_told_once_then_its_recovery_once() {
    let dir = tempfile::tempdir().unwrap();
    let (webhook, received) = slack_stand_in().await;
    std::fs::write(
        dir.path().join("status.json"),
        status_json(&minutes_ago(180), None),
    )
    .unwrap();
    let page = alerting_page(dir.path(), &webhook).await;

    // Within one poll interval (plus the time to post), exactly one message.
    let messages = until_messages(&received, 1, Duration::from_secs(3)).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with(
            ":warning: Guardrail follow-ups feed: Stale. Stale: the last update was 3 h"
        ),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("<https://github.com/acme/app/blob/HEAD/docs/runbook.md#no-runs-at-all--stale-status|Runbook>"),
        "{}",
        messages[0]
    );
    tokio::time::sleep(QUIET_POLLS).await;
    assert_eq!(
        received.lock().unwrap().len(),
        1,
        "told again on later polls"
    );

    // A fresh status: one recovery message, and nothing after it.
    std::fs::write(
        dir.path().join("status.json"),
        status_json(&minutes_ago(1), None),
    )
    .unwrap();
    let messages = until_messages(&received, 2, Duration::from_secs(3)).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[1]
            .starts_with(":white_check_mark: Guardrail follow-ups feed: Healthy again after Stale"),
        "{}",
        messages[1]
    );
    tokio::time::sleep(QUIET_POLLS).await;
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(!page.log().contains("secret-part"), "{}", page.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_status_is_told_with_its_error_line_and_not_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (webhook, received) = slack_stand_in().await;
    let error = "the webhook answered 500 Internal Server Error after 6 attempts";
    std::fs::write(dir.path().join("status.json"), failed_status(2, error)).unwrap();
    let page = alerting_page(dir.path(), &webhook).await;
    let messages = until_messages(&received, 1, Duration::from_secs(3)).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with(":x: Guardrail follow-ups feed: Failing."),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains(&format!("Error: {error}")),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("docs/runbook.md#when-a-run-fails|Runbook>"),
        "{}",
        messages[0]
    );

    // The page restarts during the incident, once it has recorded what it told.
    let state = dir.path().join("alert-state.json");
    let started = Instant::now();
    while !state.exists() && started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded = std::fs::read_to_string(&state).expect("the page keeps its alert state");
    assert!(recorded.contains(r#""kind":"failing""#), "{recorded}");
    drop(page);
    let page = alerting_page(dir.path(), &webhook).await;
    tokio::time::sleep(QUIET_POLLS).await;
    let messages = received.lock().unwrap().clone();
    assert_eq!(
        messages.len(),
        1,
        "told again after a restart: {messages:?}"
    );
    assert!(page.log().contains("alerting Slack"), "{}", page.log());
}
