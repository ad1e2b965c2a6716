//! The card in the states the docs show (healthy, behind, failing), rendered in Chromium and
//! captured: each capture must be a PNG of the card's size. With `GUARDRAIL_SCREENSHOTS_DIR`
//! set (`scripts/screenshots.sh` sets it to `docs/`), the captures are saved there as the
//! README's and the runbook's pictures.

use serde_json::{Value, json};

use super::admin_process;
use crate::helpers::admin_server::{PASSWORD, minutes_ago, status_file};
use crate::helpers::browser::Browser;

/// A status as an hourly export in production writes it, over `extra`.
fn status(extra: Value) -> String {
    let history: Vec<Value> = (0..48)
        .rev()
        .map(|hours_ago| {
            let failed = hours_ago == 30 || hours_ago == 29;
            json!({
                "startedAt": minutes_ago(hours_ago * 60 + 2),
                "durationSeconds": 4.1,
                "rows": if failed { 0 } else { 600 + (hours_ago * 37) % 250 },
                "lateRows": 0,
                "outcome": if failed { "failed" } else { "success" },
            })
        })
        .collect();
    let mut status = json!({
        "version": 2,
        "outcome": "success",
        "error": null,
        "startedAt": minutes_ago(2),
        "durationSeconds": 4.1,
        "cursor": "2026-11-27T08:49:12.098998Z",
        "cursorId": "f7089871-0ba8-4b45-a599-fe6a9f8edf7e",
        "rows": 640,
        "totalRows": 182_640,
        "lateRows": 0,
        "pendingRows": 3,
        "oldestPendingAt": minutes_ago(2),
        "heldBack": {"rows": 3, "reason": "settle-window", "since": minutes_ago(3)},
        "lastSuccessAt": minutes_ago(2),
        "updatedAt": minutes_ago(2),
        "downloadUrl": "s3://acme-exports/guardrail/latest.ndjson",
        "workflowUrl": "https://github.com/acme/app/actions/runs/1234567890",
        "history": history,
    });
    let object = status.as_object_mut().unwrap();
    for (key, value) in extra.as_object().unwrap() {
        object.insert(key.clone(), value.clone());
    }
    status.to_string()
}

#[tokio::test]
async fn the_card_states_of_the_docs_render_and_are_captured() {
    let states = [
        ("admin-reports-card.png", "Healthy", status(json!({}))),
        (
            "admin-card-behind.png",
            "Behind",
            status(json!({
                "rows": 0,
                "pendingRows": 1_250,
                "oldestPendingAt": minutes_ago(47),
                "heldBack": {"rows": 1_250, "reason": "open-transaction",
                             "since": minutes_ago(48), "pid": 48213},
            })),
        ),
        (
            "admin-card-failing.png",
            "Failing",
            status(json!({
                "outcome": "failed",
                "error": "batch 3 refused: HTTP 401 Unauthorized from https://ingest.example.com/v1/followups: the receiver rejected the signature. Fix: set GUARDRAIL_EXPORT_WEBHOOK_SECRET to the gateway's GUARDRAIL_GATEWAY_SECRET",
                "rows": 0,
                "pendingRows": null,
                "oldestPendingAt": null,
                "heldBack": null,
                "lastSuccessAt": minutes_ago(62),
            })),
        ),
    ];
    let save = std::env::var_os("GUARDRAIL_SCREENSHOTS_DIR").map(std::path::PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    // The trigger is configured, so that Run export now looks as in production; it is not pressed.
    let admin = admin_process(
        dir.path(),
        &[
            ("GUARDRAIL_ADMIN_STATUS_CACHE_SECONDS", "0"),
            (
                "GUARDRAIL_EXPORT_TRIGGER_URL",
                "https://api.github.com/repos/acme/app/actions/workflows/guardrail-followup-export.yml/dispatches",
            ),
            ("GUARDRAIL_EXPORT_TRIGGER_TOKEN", "github_pat_0123456789abcdefghij"),
        ],
    )
    .await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;
    for (name, health, status) in states {
        status_file(dir.path(), &status);
        browser.goto(&format!("{}/admin/reports", admin.base)).await;
        assert_eq!(browser.text("#health").await, health, "{name}");
        // Every button of the card is laid out whole, on one line.
        for button in ["#download", "#workflow", "#run-export"] {
            let (_, _, width, height) = browser.element(button).await.rectangle().await.unwrap();
            assert!(
                width > 100.0 && height < 60.0,
                "{name}: {button} is {width}×{height}"
            );
        }
        let png = browser
            .element("#export-health")
            .await
            .screenshot()
            .await
            .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert!(
            (600..=1100).contains(&width) && (150..=900).contains(&height),
            "{name}: {width}×{height}"
        );
        if let Some(save) = &save {
            std::fs::write(save.join(name), &png).unwrap();
        }
    }
    browser.close().await;
}
