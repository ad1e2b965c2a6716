//! The README's first command: the demo database, printed as NDJSON.

use crate::helpers::{Export, ndjson_ids};

const KEYS: [&str; 9] = [
    "followUpId",
    "providerId",
    "providerName",
    "action",
    "notes",
    "platformContext",
    "conversionCursor",
    "conversionHref",
    "createdAt",
];

#[tokio::test]
async fn the_demo_prints_ndjson_with_the_nine_keys_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path())
        .args(["--demo", "--limit", "5"])
        .run()
        .await;
    out.assert_success();
    assert!(
        dir.path().join("guardrail-demo.sqlite").is_file(),
        "the demo database was created"
    );
    let created_at = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$").unwrap();
    assert_eq!(out.lines().len(), 5, "stdout: {}", out.stdout);
    for line in out.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        let object = value.as_object().expect("each line is an object");
        assert_eq!(object.len(), 9, "{line}");
        // Key order: each key's first occurrence in the raw line comes after the previous one.
        let positions: Vec<usize> = KEYS
            .iter()
            .map(|key| {
                line.find(&format!("\"{key}\":"))
                    .unwrap_or_else(|| panic!("{key} missing in {line}"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "keys out of order: {line}"
        );
        assert!(
            created_at.is_match(object["createdAt"].as_str().unwrap()),
            "{line}"
        );
    }
    assert!(
        out.stderr.contains("exported 5 rows"),
        "summary on stderr: {}",
        out.stderr
    );
}

#[tokio::test]
async fn two_demo_runs_with_a_file_cursor_return_consecutive_rows() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Export::new(dir.path()).args([
            "--demo",
            "--limit",
            "7",
            "--cursor-store",
            "file",
            "--cursor-store-path",
            "c.json",
        ])
    };
    let first = ndjson_ids(&run().run().await.assert_success().stdout);
    let second = ndjson_ids(&run().run().await.assert_success().stdout);
    let all = ndjson_ids(
        &Export::new(dir.path())
            .args(["--demo"])
            .run()
            .await
            .assert_success()
            .stdout,
    );
    assert_eq!(all.len(), guardrail_followups::demo::DEMO_ROWS);
    assert_eq!(first, all[..7]);
    assert_eq!(second, all[7..14]);
}

#[tokio::test]
async fn the_demo_sample_is_the_same_on_every_machine() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let one = Export::new(a.path()).args(["--demo"]).run().await;
    let two = Export::new(b.path()).args(["--demo"]).run().await;
    assert_eq!(one.assert_success().stdout, two.assert_success().stdout);
    let actions: std::collections::BTreeSet<String> = one
        .lines()
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions.into_iter().collect::<Vec<_>>(),
        ["escalate", "pause", "resume"]
    );
}
