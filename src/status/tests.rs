use super::*;

fn parse(bytes: &[u8]) -> Result<Status, Unreadable> {
    Status::parse(bytes)
}

#[test]
fn the_exporters_status_is_read_whole() {
    let status = parse(
        br#"{"cursor": "2026-01-22T04:00:00.000000Z", "rows": 842, "cursorId": "x",
            "updatedAt": "2026-01-22T04:05:09.000000Z", "totalRows": 9000,
            "downloadUrl": "https://exports.example.com/latest.ndjson",
            "workflowUrl": "https://github.com/acme/app/actions/runs/1"}"#,
    )
    .unwrap();
    assert_eq!(
        status.cursor.value().unwrap().text,
        "2026-01-22T04:00:00.000000Z"
    );
    assert_eq!(status.rows, Field::Value(842));
    assert_eq!(
        status.updated_at.value().unwrap().to_rfc3339(),
        "2026-01-22T04:05:09+00:00"
    );
    assert!(status.download_url.value().is_some());
    assert!(status.workflow_url.value().is_some());
}

#[test]
fn a_version_2_status_says_how_the_last_run_ended() {
    let status = parse(
        br#"{"version": 2, "outcome": "failed", "error": "the receiver is down",
            "pendingRows": null, "lastSuccessAt": "2026-01-22T04:05:09.000000Z",
            "history": [
                {"startedAt": "2026-01-22T04:00:00.000000Z", "durationSeconds": 2.5,
                 "rows": 842, "lateRows": 1, "outcome": "success"},
                {"outcome": "sideways"}, 7,
                {"startedAt": "2026-01-22T05:00:00.000000Z", "durationSeconds": 1.0,
                 "rows": 0, "lateRows": 0, "outcome": "failed"}
            ]}"#,
    )
    .unwrap();
    assert_eq!(status.outcome, Field::Value(Outcome::Failed));
    assert_eq!(
        status.error.value().map(String::as_str),
        Some("the receiver is down")
    );
    assert_eq!(status.pending_rows, Field::Null);
    assert_eq!(status.oldest_pending_at, Field::Missing);
    assert!(status.last_success_at.value().is_some());
    let outcomes: Vec<_> = status.history.iter().map(|r| (r.outcome, r.rows)).collect();
    assert_eq!(
        outcomes,
        [(Outcome::Success, Some(842)), (Outcome::Failed, Some(0))]
    );
    assert_eq!(parse(b"{}").unwrap().outcome, Field::Missing);
}

#[test]
fn the_download_may_be_an_s3_object() {
    let status = parse(br#"{"downloadUrl": "s3://exports/guardrail/latest.ndjson"}"#).unwrap();
    assert_eq!(
        status
            .download_url
            .value()
            .map(ToString::to_string)
            .as_deref(),
        Some("s3://exports/guardrail/latest.ndjson")
    );
    for bad in [
        "s3://exports",
        "s3:///latest.ndjson",
        "ftp://exports/latest.ndjson",
    ] {
        let json = format!(r#"{{"downloadUrl": "{bad}"}}"#);
        let status = parse(json.as_bytes()).unwrap();
        assert!(
            matches!(status.download_url, Field::Invalid { .. }),
            "{bad}"
        );
    }
}

#[test]
fn the_runbooks_example_and_python_timestamps_are_accepted() {
    for text in [
        "2026-01-22T04:00:00Z",
        "2026-01-22T04:00:00+00:00",
        "2026-01-22T05:00:00+01:00",
        "2026-01-22T04:00:00.000000",
        "2026-01-22T04:00:00",
    ] {
        assert_eq!(
            timestamp(text).map(|t| t.to_rfc3339()),
            Some("2026-01-22T04:00:00+00:00".into()),
            "{text}"
        );
    }
}

#[test]
fn rows_may_be_a_number_or_a_numeric_string() {
    for (json, expected) in [
        (r#"{"rows": 842}"#, Field::Value(842)),
        (r#"{"rows": "842"}"#, Field::Value(842)),
        (r#"{"rows": 842.0}"#, Field::Value(842)),
        (r#"{"rows": null}"#, Field::Null),
        (r#"{}"#, Field::Missing),
        (
            r#"{"rows": -1}"#,
            Field::Invalid {
                found: "the number -1".into(),
            },
        ),
        (
            r#"{"rows": "lots"}"#,
            Field::Invalid {
                found: "the text \"lots\"".into(),
            },
        ),
        (
            r#"{"rows": [1]}"#,
            Field::Invalid {
                found: "an array".into(),
            },
        ),
    ] {
        assert_eq!(parse(json.as_bytes()).unwrap().rows, expected, "{json}");
    }
}

#[test]
fn wrong_types_make_one_field_invalid_not_the_status() {
    let status = parse(
        br#"{"cursor": 17, "updatedAt": "yesterday", "downloadUrl": "javascript:alert(1)",
            "workflowUrl": {"href": "x"}}"#,
    )
    .unwrap();
    assert!(matches!(status.cursor, Field::Invalid { .. }));
    assert!(matches!(status.updated_at, Field::Invalid { .. }));
    assert!(matches!(status.download_url, Field::Invalid { .. }));
    assert!(matches!(status.workflow_url, Field::Invalid { .. }));
    assert_eq!(status.rows, Field::Missing);
}

#[test]
fn only_a_non_object_is_unreadable() {
    assert_eq!(
        parse(b"[1, 2]").unwrap_err().0,
        "the status is an array, not a JSON object"
    );
    assert!(
        parse(b"<html>")
            .unwrap_err()
            .0
            .starts_with("the status is not JSON")
    );
    assert_eq!(parse(b"  \n").unwrap_err().0, "the status is empty");
}
