use super::*;
use crate::admin::source::{ReadFailure, Snapshot};
use crate::status::{Status, Unreadable};

fn parse(bytes: &[u8]) -> Result<Status, Unreadable> {
    Status::parse(bytes)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn card_for(json: &str, now: &str) -> Card {
    let snapshot = Snapshot::for_tests(parse(json.as_bytes()).map_err(|e| Unreadable(e.0)));
    let trigger = TriggerSetting::Missing(vec![env::EXPORT_TRIGGER_URL]);
    let settings = CardSettings {
        archive_dir: None,
        stale_after: Duration::from_secs(2 * 3600),
        cache_ttl: Duration::from_secs(300),
        workflow_override: None,
        trigger: &trigger,
        source: Some("status.json".into()),
    };
    card(&snapshot, &settings, at(now))
}

const HEALTHY: &str = r#"{"cursor": "2026-01-22T04:00:00.000000Z", "rows": 12842,
    "updatedAt": "2026-01-22T04:05:09Z", "downloadUrl": "https://x.example/a.ndjson",
    "workflowUrl": "https://github.com/acme/app/actions/runs/1"}"#;

#[test]
fn a_recent_update_is_healthy_and_shows_its_age() {
    let card = card_for(HEALTHY, "2026-01-22T04:17:00Z");
    assert_eq!(card.health, Health::Healthy);
    assert_eq!(card.rows.value, "12,842");
    assert_eq!(card.updated.value, "2026-01-22 04:05 UTC");
    assert_eq!(card.updated.detail.as_deref(), Some("11 min ago"));
    assert_eq!(card.download, Ok(()));
    assert!(card.workflow.is_ok());
    assert!(card.stale_warning.is_none());
}

#[test]
fn an_update_older_than_the_threshold_is_stale() {
    let card = card_for(HEALTHY, "2026-01-22T07:20:00Z");
    assert_eq!(card.health, Health::Stale);
    let warning = card.stale_warning.unwrap();
    assert!(warning.contains("3 h 14 min ago"), "{warning}");
    assert!(warning.contains("the 2 h an hourly export"), "{warning}");
}

#[test]
fn missing_fields_say_what_is_missing() {
    let card = card_for(r#"{"rows": "7"}"#, "2026-01-22T04:17:00Z");
    assert_eq!(card.health, Health::Unknown);
    assert_eq!(card.rows.value, "7");
    assert!(!card.cursor.known);
    assert_eq!(
        card.cursor.detail.as_deref(),
        Some("the status has no cursor")
    );
    assert_eq!(
        card.download,
        Err("Download unavailable: the status has no downloadUrl.".into())
    );
    assert!(card.workflow.unwrap_err().contains(env::WORKFLOW_URL));
    assert!(card.trigger.unwrap_err().contains(env::EXPORT_TRIGGER_URL));
}

#[test]
fn a_null_cursor_means_nothing_exported_yet() {
    let card = card_for(
        r#"{"cursor": null, "rows": 0, "updatedAt": "2026-01-22T04:05:09Z", "downloadUrl": null}"#,
        "2026-01-22T04:17:00Z",
    );
    assert_eq!(card.cursor.value, "none yet");
    assert!(card.cursor.known);
    assert_eq!(
        card.download,
        Err("Download unavailable: the last export published no file.".into())
    );
}

#[test]
fn an_unreadable_status_says_why() {
    let card = card_for("<html>oops</html>", "2026-01-22T04:17:00Z");
    assert_eq!(card.health, Health::Unreadable);
    assert!(card.unreadable.unwrap().contains("not JSON"));
    assert!(card.download.is_err());
}

#[test]
fn a_missing_status_means_no_export_has_run_yet_not_an_error() {
    let looked = "cannot read status.json: No such file or directory (os error 2)";
    let snapshot = Snapshot::for_tests(Err(ReadFailure::Missing(looked.into())));
    let trigger = TriggerSetting::Missing(vec![env::EXPORT_TRIGGER_URL]);
    let settings = CardSettings {
        archive_dir: None,
        stale_after: Duration::from_secs(2 * 3600),
        cache_ttl: Duration::from_secs(300),
        workflow_override: None,
        trigger: &trigger,
        source: Some("status.json".into()),
    };
    let card = card(&snapshot, &settings, at("2026-01-22T04:17:00Z"));
    assert_eq!(card.health, Health::NeverRun);
    assert_eq!(card.health.label(), "Never run");
    assert_ne!(card.health.class(), "error");
    assert!(card.unreadable.is_none());
    let never_run = card.never_run.unwrap();
    assert!(
        never_run
            .how_to_run
            .starts_with("No export has run yet: run `guardrail-followups export`")
    );
    assert_eq!(never_run.looked, looked);
    assert_eq!(
        card.download,
        Err("Download unavailable: no export has run yet.".into())
    );
}

#[test]
fn a_timestamp_in_the_future_is_called_out() {
    let card = card_for(HEALTHY, "2026-01-22T04:00:00Z");
    assert!(card.updated.detail.unwrap().contains("in the future"));
}

fn v2(extra: &str) -> String {
    format!(
        r#"{{"version": 2, "outcome": "success", "rows": 842, "updatedAt": "2026-01-22T04:05:09Z",
            "workflowUrl": "https://github.com/acme/app/actions/runs/1", "pendingRows": 0 {extra}}}"#
    )
}

#[test]
fn a_version_2_status_is_healthy_behind_failing_or_from_the_future() {
    let now = "2026-01-22T04:17:00Z";
    let healthy = card_for(&v2(""), now);
    assert_eq!(healthy.health, Health::Healthy);
    assert!(healthy.failure.is_none() && healthy.behind_warning.is_none());

    let behind = card_for(
        &v2(r#", "pendingRows": 1200, "oldestPendingAt": "2026-01-22T02:17:00Z""#),
        now,
    );
    assert_eq!(behind.health, Health::Behind);
    let warning = behind.behind_warning.unwrap();
    assert!(
        warning.contains("1,200 rows were still waiting"),
        "{warning}"
    );
    assert!(
        warning.contains("the oldest was created 2 h ago"),
        "{warning}"
    );

    let failing = card_for(
        &v2(
            r#", "outcome": "interrupted", "error": "interrupted by SIGTERM", "lastSuccessAt": null"#,
        ),
        now,
    );
    assert_eq!(failing.health, Health::Failing);
    assert_eq!(failing.health.class(), "error");
    let failure = failing.failure.unwrap();
    assert_eq!(failure.error, "interrupted by SIGTERM");
    assert!(
        failure.summary.contains("interrupted"),
        "{}",
        failure.summary
    );
    assert!(failure.summary.contains("No successful run is recorded"));
    assert!(!failure.summary.contains("  "), "{}", failure.summary);
    assert_eq!(
        failure.runbook.unwrap().as_str(),
        "https://github.com/acme/app/blob/HEAD/docs/runbook.md#when-a-run-fails"
    );

    let future = card_for(&v2(""), "2026-01-22T03:50:00Z");
    assert_eq!(future.health, Health::Future);
    let warning = future.future_warning.unwrap();
    assert!(
        warning.contains("15 min ahead") && !warning.contains("  "),
        "{warning}"
    );
    // Within the tolerance it is still healthy.
    assert_eq!(
        card_for(&v2(""), "2026-01-22T04:02:00Z").health,
        Health::Healthy
    );
    // A stale failure stays stale, and still shows the error.
    let stale = card_for(
        &v2(r#", "outcome": "failed", "error": "x""#),
        "2026-01-22T09:00:00Z",
    );
    assert_eq!(stale.health, Health::Stale);
    assert!(stale.failure.is_some());
}

#[test]
fn rows_held_back_by_an_open_transaction_are_behind_and_the_settle_window_is_not() {
    let now = "2026-01-22T04:17:00Z";
    let held = card_for(
        &v2(
            r#", "rows": 0, "pendingRows": 50, "oldestPendingAt": "2026-01-22T04:02:00Z",
            "heldBack": {"rows": 50, "reason": "open-transaction",
                         "since": "2026-01-22T04:01:30Z", "pid": 4242}"#,
        ),
        now,
    );
    assert_eq!(held.health, Health::Behind);
    let warning = held.behind_warning.unwrap();
    assert!(
        warning.contains(
            "Held back: 50 rows wait for a transaction open since 2026-01-22 04:01:30 UTC (pid 4242)"
        ),
        "{warning}"
    );
    assert_eq!(held.waiting.value, "50 rows");
    let detail = held.waiting.detail.unwrap();
    assert!(
        detail.contains("the oldest was created 15 min ago"),
        "{detail}"
    );
    assert!(detail.contains("pid 4242"), "{detail}");

    let settling = card_for(
        &v2(
            r#", "pendingRows": 3, "oldestPendingAt": "2026-01-22T04:16:30Z",
            "heldBack": {"rows": 3, "reason": "settle-window", "since": "2026-01-22T04:16:00Z"}"#,
        ),
        now,
    );
    assert_eq!(settling.health, Health::Healthy);
    assert!(settling.behind_warning.is_none());
    let detail = settling.waiting.detail.unwrap();
    assert!(
        detail.contains("younger than the settle window"),
        "{detail}"
    );

    // Rows beyond what the settle window holds: behind, counting only those.
    let limited = card_for(
        &v2(r#", "pendingRows": 10,
            "heldBack": {"rows": 3, "reason": "settle-window", "since": "2026-01-22T04:16:00Z"}"#),
        now,
    );
    assert_eq!(limited.health, Health::Behind);
    let warning = limited.behind_warning.unwrap();
    assert!(warning.contains("7 rows were still waiting"), "{warning}");

    let none = card_for(&v2(""), now);
    assert_eq!(
        (none.waiting.value.as_str(), none.waiting.known),
        ("none", true)
    );
    let v1 = card_for(HEALTHY, now);
    assert!(!v1.waiting.known);
}

#[test]
fn a_version_1_status_has_no_history_and_no_future_flag() {
    let card = card_for(HEALTHY, "2026-01-22T03:50:00Z");
    assert_eq!(card.health, Health::Healthy);
    assert!(card.history.is_empty() && card.future_warning.is_none());
}

#[test]
fn the_runbook_link_needs_a_github_style_workflow_url() {
    let url = |u: &str| runbook_url(&Url::parse(u).unwrap()).map(|u| u.to_string());
    assert_eq!(
        url("https://ghe.example.com/ops/export/actions/runs/9?x=1").as_deref(),
        Some("https://ghe.example.com/ops/export/blob/HEAD/docs/runbook.md#when-a-run-fails")
    );
    assert_eq!(url("https://ci.example.com/jobs/42"), None);
}

#[test]
fn durations_and_numbers_read_naturally() {
    assert_eq!(duration(Duration::from_secs(45)), "45 s");
    assert_eq!(duration(Duration::from_secs(7200)), "2 h");
    assert_eq!(
        duration(Duration::from_secs(3 * 86_400 + 3600)),
        "3 days 1 h"
    );
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(1_234_567), "1,234,567");
}
