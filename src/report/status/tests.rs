use super::*;
use crate::export::LateRows;
use crate::export::source::Backlog;

fn facts<'a>(outcome: Outcome, summary: Option<&'a Summary>, started: &str) -> RunFacts<'a> {
    let started_at = Timestamp::parse(started).unwrap();
    RunFacts {
        outcome,
        summary,
        error: (outcome != Outcome::Success).then(|| "the receiver is down".to_owned()),
        cursor_after: None,
        started_at,
        ended_at: Timestamp::from_micros(started_at.micros() + 2_500_000),
        duration: Duration::from_millis(2_500),
    }
}

fn summary() -> Summary {
    Summary {
        rows: 42,
        cursor: None,
        total_rows: 100,
        elapsed: Duration::from_millis(2_500),
        repairs: Default::default(),
        late: LateRows {
            found: 3,
            ..LateRows::default()
        },
        output_closed: false,
        source: "test".into(),
        backlog: Some(Backlog {
            pending: 7,
            oldest: Some(Timestamp::parse("2026-01-22T05:59:00Z").unwrap()),
            held_back: Some(crate::export::source::HeldBack {
                rows: 5,
                reason: HoldReason::OpenTransaction { pid: 4242 },
                since: Timestamp::parse("2026-01-22T05:59:30Z").unwrap(),
            }),
        }),
        archive: Default::default(),
    }
}

fn json(status: &Status) -> Vec<u8> {
    serde_json::to_vec(status).unwrap()
}

#[test]
fn a_failed_run_keeps_the_cursor_and_last_success_of_the_status_it_replaces() {
    let config = ReportConfig::default();
    let v1 = br#"{"cursor": "2026-01-22T04:00:00.000000Z", "cursorId": "x", "rows": 5,
        "totalRows": 90, "lateRows": 0, "updatedAt": "2026-01-22T04:05:00.000000Z"}"#;
    let failed = Status::of(
        &facts(Outcome::Failed, None, "2026-01-22T05:00:00Z"),
        &Previous::from_bytes(v1),
        &config,
    );
    assert_eq!(failed.version, 2);
    assert_eq!(failed.outcome, "failed");
    assert_eq!(failed.error.as_deref(), Some("the receiver is down"));
    assert_eq!(
        failed.cursor.as_deref(),
        Some("2026-01-22T04:00:00.000000Z")
    );
    assert_eq!(failed.cursor_id.as_deref(), Some("x"));
    assert_eq!((failed.rows, failed.total_rows), (0, 90));
    assert_eq!(failed.pending_rows, None);
    assert_eq!(
        (&failed.oldest_pending_at, &failed.held_back),
        (&None, &None)
    );
    assert_eq!(failed.last_success_at, None, "a v1 status names no success");
    assert_eq!(failed.started_at, "2026-01-22T05:00:00.000000Z");
    assert_eq!(failed.updated_at, "2026-01-22T05:00:02.500000Z");
    assert_eq!(failed.duration_seconds, 2.5);
    assert_eq!(failed.history.len(), 1);

    let s = summary();
    let ok = Status::of(
        &facts(Outcome::Success, Some(&s), "2026-01-22T06:00:00Z"),
        &Previous::from_bytes(&json(&failed)),
        &config,
    );
    assert_eq!(ok.outcome, "success");
    assert_eq!(ok.error, None);
    assert_eq!(ok.cursor, None, "a success says its own cursor");
    assert_eq!((ok.rows, ok.late_rows, ok.total_rows), (42, 3, 100));
    assert_eq!(ok.pending_rows, Some(7));
    assert_eq!(
        ok.oldest_pending_at.as_deref(),
        Some("2026-01-22T05:59:00.000000Z")
    );
    assert_eq!(
        serde_json::to_value(&ok.held_back).unwrap(),
        serde_json::json!({"rows": 5, "reason": "open-transaction",
            "since": "2026-01-22T05:59:30.000000Z", "pid": 4242})
    );
    assert_eq!(
        ok.last_success_at.as_deref(),
        Some("2026-01-22T06:00:02.500000Z")
    );
    let interrupted = Status::of(
        &facts(Outcome::Interrupted, None, "2026-01-22T07:00:00Z"),
        &Previous::from_bytes(&json(&ok)),
        &config,
    );
    assert_eq!(interrupted.outcome, "interrupted");
    assert_eq!(interrupted.last_success_at, ok.last_success_at);
    assert_eq!(interrupted.total_rows, 100);
    let outcomes: Vec<_> = interrupted
        .history
        .iter()
        .map(|r| (r.outcome.as_str(), r.rows, r.late_rows))
        .collect();
    assert_eq!(
        outcomes,
        [("failed", 0, 0), ("success", 42, 3), ("interrupted", 0, 0)]
    );
}

#[test]
fn history_keeps_the_last_48_runs_newest_last() {
    let config = ReportConfig::default();
    let mut previous = Previous::default();
    let mut last = None;
    for hour in 0..60 {
        let started = format!("2026-01-{:02}T{:02}:00:00Z", 1 + hour / 24, hour % 24);
        let status = Status::of(&facts(Outcome::Failed, None, &started), &previous, &config);
        previous = Previous::from_bytes(&json(&status));
        last = Some(status);
    }
    let history = last.unwrap().history;
    assert_eq!(history.len(), HISTORY_RUNS);
    assert_eq!(history[0].started_at, "2026-01-01T12:00:00.000000Z");
    assert_eq!(history[47].started_at, "2026-01-03T11:00:00.000000Z");
}

#[test]
fn an_unreadable_previous_status_carries_nothing() {
    for bytes in [
        &b""[..],
        b"garbage",
        b"[1]",
        br#"{"history": 3, "totalRows": "x"}"#,
    ] {
        assert_eq!(Previous::from_bytes(bytes), Previous::default());
    }
}

#[test]
fn a_run_that_stopped_after_delivering_says_where_its_cursor_stands_and_what_it_delivered() {
    let config = ReportConfig::default();
    let previous = Previous::from_bytes(
        br#"{"version": 2, "outcome": "success", "cursor": "2026-01-22T03:00:00.000000Z",
            "totalRows": 1000, "lastSuccessAt": "2026-01-22T03:05:00Z"}"#,
    );
    let position = crate::cursor::Position {
        created_at: Timestamp::parse("2026-01-22T04:10:00Z").unwrap(),
        id: Some(uuid::Uuid::from_u128(7)),
    };
    let after = CursorState {
        position: Some(position),
        total_rows: 5000,
        ..CursorState::default()
    };
    let mut run = facts(Outcome::Failed, None, "2026-01-22T05:00:00Z");
    run.cursor_after = Some(&after);
    let status = Status::of(&run, &previous, &config);
    assert_eq!(
        status.cursor.as_deref(),
        Some("2026-01-22T04:10:00.000000Z")
    );
    assert_eq!(status.total_rows, 5000);
    assert_eq!(
        status.rows, 4000,
        "what the cursor moved over since the last status"
    );
    assert_eq!(status.history.last().unwrap().rows, 4000);
    assert_eq!(
        status.last_success_at.as_deref(),
        Some("2026-01-22T03:05:00Z")
    );
}
