use super::*;
use crate::export::LateRows;
use crate::export::source::Backlog;
use crate::location::Place;

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
    status.to_bytes()
}

fn from_bytes(bytes: &[u8]) -> Status {
    Status::parse(bytes).unwrap_or_default()
}

fn text<T: crate::status::Lenient>(field: &Field<T>) -> Option<String> {
    field.value().map(|v| {
        v.write()
            .as_str()
            .map_or_else(|| v.write().to_string(), str::to_owned)
    })
}

#[test]
fn a_failed_run_keeps_the_cursor_and_last_success_of_the_status_it_replaces() {
    let config = ReportConfig::default();
    let v1 = br#"{"cursor": "2026-01-22T04:00:00.000000Z", "cursorId": "x", "rows": 5,
        "totalRows": 90, "lateRows": 0, "updatedAt": "2026-01-22T04:05:00.000000Z"}"#;
    let failed = status_of(
        &facts(Outcome::Failed, None, "2026-01-22T05:00:00Z"),
        &from_bytes(v1),
        &config,
    );
    assert_eq!(failed.version, Field::Value(2));
    assert_eq!(failed.outcome, Field::Value(Outcome::Failed));
    assert_eq!(text(&failed.error).as_deref(), Some("the receiver is down"));
    assert_eq!(
        text(&failed.cursor).as_deref(),
        Some("2026-01-22T04:00:00.000000Z")
    );
    assert_eq!(text(&failed.cursor_id).as_deref(), Some("x"));
    assert_eq!(
        (&failed.rows, &failed.total_rows),
        (&Field::Value(0), &Field::Value(90))
    );
    assert_eq!(failed.pending_rows, Field::Null);
    assert_eq!(
        (&failed.oldest_pending_at, &failed.held_back),
        (&Field::Null, &Field::Null)
    );
    assert_eq!(
        failed.last_success_at,
        Field::Null,
        "a v1 status names no success"
    );
    assert_eq!(
        text(&failed.started_at).as_deref(),
        Some("2026-01-22T05:00:00.000000Z")
    );
    assert_eq!(
        text(&failed.updated_at).as_deref(),
        Some("2026-01-22T05:00:02.500000Z")
    );
    assert_eq!(failed.duration_seconds, Field::Value(2.5));
    assert_eq!(failed.history.len(), 1);

    let s = summary();
    let ok = status_of(
        &facts(Outcome::Success, Some(&s), "2026-01-22T06:00:00Z"),
        &from_bytes(&json(&failed)),
        &config,
    );
    assert_eq!(ok.outcome, Field::Value(Outcome::Success));
    assert_eq!(ok.error, Field::Null);
    assert_eq!(ok.cursor, Field::Null, "a success says its own cursor");
    assert_eq!(
        (&ok.rows, &ok.late_rows, &ok.total_rows),
        (&Field::Value(42), &Field::Value(3), &Field::Value(100))
    );
    assert_eq!(ok.pending_rows, Field::Value(7));
    assert_eq!(
        text(&ok.oldest_pending_at).as_deref(),
        Some("2026-01-22T05:59:00.000000Z")
    );
    assert_eq!(
        serde_json::to_value(&ok.held_back).unwrap(),
        serde_json::json!({"rows": 5, "reason": "open-transaction",
            "since": "2026-01-22T05:59:30.000000Z", "pid": 4242})
    );
    assert_eq!(
        text(&ok.last_success_at).as_deref(),
        Some("2026-01-22T06:00:02.500000Z")
    );
    let interrupted = status_of(
        &facts(Outcome::Interrupted, None, "2026-01-22T07:00:00Z"),
        &from_bytes(&json(&ok)),
        &config,
    );
    assert_eq!(interrupted.outcome, Field::Value(Outcome::Interrupted));
    assert_eq!(interrupted.last_success_at, ok.last_success_at);
    assert_eq!(interrupted.total_rows, Field::Value(100));
    let outcomes: Vec<_> = interrupted
        .history
        .iter()
        .map(|r| (r.outcome.label(), r.rows.unwrap(), r.late_rows.unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [("failed", 0, 0), ("success", 42, 3), ("interrupted", 0, 0)]
    );
}

#[test]
fn history_keeps_the_last_48_runs_newest_last() {
    let config = ReportConfig::default();
    let mut previous = Status::default();
    let mut last = None;
    for hour in 0..60 {
        let started = format!("2026-01-{:02}T{:02}:00:00Z", 1 + hour / 24, hour % 24);
        let status = status_of(&facts(Outcome::Failed, None, &started), &previous, &config);
        previous = from_bytes(&json(&status));
        last = Some(status);
    }
    let history = last.unwrap().history;
    assert_eq!(history.len(), HISTORY_RUNS);
    assert_eq!(
        history[0].started_at,
        crate::status::timestamp("2026-01-01T12:00:00Z")
    );
    assert_eq!(
        history[47].started_at,
        crate::status::timestamp("2026-01-03T11:00:00Z")
    );
}

#[test]
fn an_unreadable_previous_status_carries_nothing() {
    for bytes in [
        &b""[..],
        b"garbage",
        b"[1]",
        br#"{"history": 3, "totalRows": "x"}"#,
    ] {
        let status = status_of(
            &facts(Outcome::Failed, None, "2026-01-22T05:00:00Z"),
            &from_bytes(bytes),
            &ReportConfig::default(),
        );
        assert_eq!(
            (&status.cursor, &status.total_rows),
            (&Field::Null, &Field::Value(0))
        );
        assert_eq!(
            (&status.last_success_at, status.history.len()),
            (&Field::Null, 1)
        );
    }
}

#[test]
fn a_run_that_stopped_after_delivering_says_where_its_cursor_stands_and_what_it_delivered() {
    let config = ReportConfig::default();
    let previous = from_bytes(
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
    let status = status_of(&run, &previous, &config);
    assert_eq!(
        text(&status.cursor).as_deref(),
        Some("2026-01-22T04:10:00.000000Z")
    );
    assert_eq!(status.total_rows, Field::Value(5000));
    assert_eq!(
        status.rows,
        Field::Value(4000),
        "what the cursor moved over since the last status"
    );
    assert_eq!(status.history.last().unwrap().rows, Some(4000));
    assert_eq!(
        text(&status.last_success_at).as_deref(),
        Some("2026-01-22T03:05:00.000000Z")
    );
}

#[test]
fn what_the_writer_writes_the_reader_reads_back_whole_for_every_outcome() {
    let mut s = summary();
    s.cursor = Some(crate::cursor::Position {
        created_at: Timestamp::parse("2026-01-22T05:58:00.123456Z").unwrap(),
        id: Some(uuid::Uuid::from_u128(42)),
    });
    let settling = {
        let mut s = s.clone();
        if let Some(backlog) = &mut s.backlog {
            backlog.held_back.as_mut().unwrap().reason = HoldReason::SettleWindow;
        }
        s
    };
    let downloads = [
        "/var/lib/guardrail-followups/archive/latest.ndjson",
        "s3://ops-exports/guardrail/latest.ndjson",
        "https://exports.example.com/latest.ndjson?X-Amz-Signature=abc",
    ];
    let mut previous = Status::default();
    for (n, outcome) in Outcome::ALL.into_iter().cycle().take(9).enumerate() {
        let config = ReportConfig {
            download_url: Some(
                crate::location::Location::parse(downloads[n % 3], Place::READABLE_FILE).unwrap(),
            ),
            workflow_url: crate::status::HttpUrl::parse("https://github.com/a/b/actions/runs/1"),
            ..ReportConfig::default()
        };
        let summary = [&s, &settling][n % 2];
        let run = facts(
            outcome,
            (outcome == Outcome::Success).then_some(summary),
            &format!("2026-01-22T0{n}:00:00Z"),
        );
        let written = status_of(&run, &previous, &config);
        let read =
            Status::parse(&written.to_bytes()).expect("the reader takes the writer's status");
        assert_eq!(read, written, "{outcome:?}");
        let object: serde_json::Value = serde_json::from_slice(&written.to_bytes()).unwrap();
        assert_eq!(
            object.as_object().unwrap().len(),
            18,
            "every key, null or not"
        );
        if outcome == Outcome::Success {
            assert!(read.held_back.value().is_some() && read.cursor.value().is_some());
        } else {
            assert!(read.error.value().is_some());
        }
        previous = read;
    }
    assert_eq!(previous.history.len(), 9);
}
