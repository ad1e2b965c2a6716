//! `platformContext` read from a real `json` column, shape by shape.

use serde_json::{Value, json};

use crate::helpers::{Export, TestDb};

/// (SQL literal for the json column, expected platformContext).
fn cases() -> Vec<(&'static str, Value)> {
    let full = |id: &str, label: Value, handle: Value, kind: Value| json!({"id": id, "label": label, "handle": handle, "platformType": kind});
    vec![
        (
            r#"'{"id":"ig-1","label":"Instagram","handle":"@shop","platformType":"instagram"}'"#,
            full(
                "ig-1",
                json!("Instagram"),
                json!("@shop"),
                json!("instagram"),
            ),
        ),
        (
            r#"'{"platform_id":"tt-2","name":"TikTok","username":"shop","platform_type":"tiktok"}'"#,
            full("tt-2", json!("TikTok"), json!("shop"), json!("tiktok")),
        ),
        (
            r#"'{"id":"  fb-3 ","label":"   ","handle":"","type":" facebook "}'"#,
            full("fb-3", Value::Null, Value::Null, json!("facebook")),
        ),
        (
            r#"'{"id":"x-4","label":"X","followers":12000,"meta":{"a":1}}'"#,
            full("x-4", json!("X"), Value::Null, Value::Null),
        ),
        (
            r#"'{"id":5,"label":"Five"}'"#,
            full("5", json!("Five"), Value::Null, Value::Null),
        ),
        (
            r#"'"{\"id\":\"ig-6\",\"label\":\"Legacy\"}"'"#,
            full("ig-6", json!("Legacy"), Value::Null, Value::Null),
        ),
        (r#"'"instagram"'"#, Value::Null),
        (r#"'["ig-1","tt-2"]'"#, Value::Null),
        ("'42'", Value::Null),
        ("'null'", Value::Null),
        ("'{}'", Value::Null),
        (r#"'{"handle":"@nobody"}'"#, Value::Null),
        ("NULL", Value::Null),
    ]
}

#[tokio::test]
async fn every_platform_context_shape_exports_as_documented() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let cases = cases();
    for (i, (literal, _)) in cases.iter().enumerate() {
        client
            .batch_execute(&format!(
                "INSERT INTO provider_guardrail_followup (id, provider_id, action, platform_context, created_at)
                 VALUES (gen_random_uuid(), 'provider-1', 'pause', {literal}::json, timestamptz '2026-01-22 04:00:00+00' + interval '{i} seconds')"
            ))
            .await
            .unwrap_or_else(|e| panic!("inserting {literal}: {e}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path()).db(&db.url).run().await;
    out.assert_success();
    let lines = out.lines();
    assert_eq!(lines.len(), cases.len());
    for (line, (literal, expected)) in lines.iter().zip(&cases) {
        let row: Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["platformContext"], *expected, "for {literal}");
    }
    // Five repaired (variant keys, padding, extra keys, a numeric id, double encoding), five
    // nulled (string, array, number, {}, no id or label); JSON null and SQL NULL are no repair.
    // The warning names the first three of each kind, so that they can be found in the source.
    let ids: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["followUpId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("platformContext normalised: 5 repaired (e.g. "))
        .unwrap_or_else(|| panic!("stderr: {}", out.stderr));
    assert!(warning.contains(", 5 exported as null (e.g. "), "{warning}");
    let named = ids
        .iter()
        .filter(|id| warning.contains(id.as_str()))
        .count();
    assert_eq!(
        named, 6,
        "three repaired and three nulled follow-ups named: {warning}"
    );
}

#[tokio::test]
async fn actions_are_trimmed_and_lowercased_and_unknown_ones_reported() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at) VALUES
             (gen_random_uuid(), 'p', ' Pause ', '2026-01-22 04:00:00+00'),
             (gen_random_uuid(), 'p', 'ESCALATE', '2026-01-22 04:00:01+00'),
             (gen_random_uuid(), 'p', 'Suspend', '2026-01-22 04:00:02+00')",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path()).db(&db.url).run().await;
    out.assert_success();
    let actions: Vec<String> = out
        .lines()
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(actions, ["pause", "escalate", "suspend"]);
    assert!(
        out.stderr
            .contains("1 row has an action other than pause/resume/escalate"),
        "{}",
        out.stderr
    );
}
