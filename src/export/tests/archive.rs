//! The archive of a run's delivered rows on the in-memory sink: exactly the acknowledged
//! batches, in order, after successes, failures and sinks that deliver when they finish.
//!
//! Every test runs on tokio's paused clock: the sink's delays and a signal's timer are ordered
//! in virtual time, so a loaded machine cannot reorder them.

use super::*;
use crate::archive::{ArchiveConfig, Archiving, LATEST};

/// The `notes` of every row in the archive's latest copy.
fn latest(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(LATEST))
        .unwrap()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["notes"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn archived(setup: &Setup, dir: &std::path::Path) -> ExportConfig {
    ExportConfig {
        archive: Some(ArchiveConfig::Dir(dir.to_owned())),
        ..setup.config()
    }
}

#[tokio::test(start_paused = true)]
async fn batches_completing_out_of_order_are_archived_in_batch_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MemoryTarget::answering(Answer::Durable)
        .in_flight(4)
        .delays(&[
            Duration::from_millis(60),
            Duration::ZERO,
            Duration::from_millis(30),
        ]);
    let setup = Setup::new(rows(12), sink);
    let summary = run_once(&archived(&setup, dir.path())).await.unwrap();
    let Archiving::Written(written) = &summary.archive else {
        panic!("archived: {:?}", summary.archive);
    };
    assert_eq!(written.rows, 12);
    assert_ne!(
        setup.delivered(),
        notes(1..=12),
        "they completed out of order"
    );
    assert_eq!(latest(dir.path()), notes(1..=12));
}

#[tokio::test(start_paused = true)]
async fn a_failed_run_archives_what_it_delivered_before_the_failure_and_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MemoryTarget::scripted(
        &[Answer::Durable, Answer::Durable, Answer::Fail],
        Answer::Durable,
    );
    let setup = Setup::new(rows(12), sink);
    run_once(&archived(&setup, dir.path())).await.unwrap_err();
    assert_eq!(latest(dir.path()), notes(1..=6));
    assert_eq!(
        setup.stored().total_rows,
        6,
        "the cursor holds the same rows"
    );

    // The next run delivers the rest; a quiet run after it leaves its copy in place.
    let setup = Setup {
        sink: MemoryTarget::answering(Answer::Durable),
        ..setup
    };
    run_once(&archived(&setup, dir.path())).await.unwrap();
    assert_eq!(latest(dir.path()), notes(7..=12));
    let quiet = run_once(&archived(&setup, dir.path())).await.unwrap();
    assert_eq!(quiet.archive, Archiving::NothingNew);
    assert_eq!(latest(dir.path()), notes(7..=12));
}

#[tokio::test(start_paused = true)]
async fn rows_a_sink_delivers_on_finishing_are_archived_only_once_it_has_finished() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(rows(5), MemoryTarget::answering(Answer::UntilFinish));
    run_once(&archived(&setup, dir.path())).await.unwrap();
    assert_eq!(latest(dir.path()), notes(1..=5));

    let more = Setup::new(rows(9), MemoryTarget::answering(Answer::UntilFinish));
    let more = Setup {
        store: setup.store.clone(),
        ..more
    };
    more.sink.fail_finish();
    run_once(&archived(&more, dir.path())).await.unwrap_err();
    assert_eq!(
        latest(dir.path()),
        notes(1..=5),
        "nothing of a run whose output never landed"
    );
}

#[tokio::test(start_paused = true)]
async fn rows_delivered_but_not_archived_keep_the_cursor_and_the_earlier_latest() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(rows(4), MemoryTarget::answering(Answer::Durable));
    std::fs::write(dir.path().join(LATEST), b"an earlier run\n").unwrap();
    // `runs` is a file, so no dated copy can be made.
    std::fs::write(dir.path().join("runs"), b"in the way").unwrap();
    let summary = run_once(&archived(&setup, dir.path())).await.unwrap();
    let Archiving::Failed(reason) = &summary.archive else {
        panic!("not archived: {:?}", summary.archive);
    };
    assert!(reason.contains("cannot create the folder"), "{reason}");
    assert_eq!(summary.rows, 4);
    assert_eq!(
        setup.stored().total_rows,
        4,
        "the cursor keeps the delivery"
    );
    let message = summary.archive_error().expect("a failed run").message();
    assert!(
        message.starts_with("the export delivered 4 rows and saved its cursor (now "),
        "{message}"
    );
    assert_eq!(
        std::fs::read(dir.path().join(LATEST)).unwrap(),
        b"an earlier run\n"
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_archive_folder_stops_the_run_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(rows(4), MemoryTarget::answering(Answer::Durable));
    let error = run_once(&archived(&setup, &dir.path().join("missing")))
        .await
        .unwrap_err();
    assert_eq!(error.exit_code(), exit::CONFIG, "{error}");
    assert_eq!(setup.sink.started(), 0);
    assert!(setup.store.stored().is_none());
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_run_archives_exactly_the_rows_its_cursor_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (interrupt, signal) = Interrupt::manual();
    let mut setup = Setup::new(
        rows(30),
        MemoryTarget::answering(Answer::Durable)
            .in_flight(3)
            .delays(&[Duration::from_millis(40); 10]),
    );
    setup.interrupt = interrupt;
    let stop = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(60)).await;
        signal.send(Some(crate::error::Signal::Term)).unwrap();
        signal
    });
    let error = run_once(&archived(&setup, dir.path())).await.unwrap_err();
    let _signal = stop.await.unwrap();
    assert!(matches!(error, Error::Interrupted { .. }), "{error}");
    let held = setup.stored().total_rows as u32;
    assert!(held > 0 && held < 30, "{held} rows delivered");
    assert_eq!(latest(dir.path()), notes(1..=held));
}

#[tokio::test(start_paused = true)]
async fn rows_the_audit_sends_again_are_archived_as_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let bucket_start = Timestamp::from_micros(
        (Timestamp::now().micros() - 10 * 60_000_000).div_euclid(60_000_000) * 60_000_000,
    );
    let at = |n: u32| Timestamp::from_micros(bucket_start.micros() + i64::from(n) * 1_000_000);
    let mut setup = Setup::new(
        vec![row(1, at(1)), row(2, at(3)), row(3, minutes_ago(2, 3))],
        MemoryTarget::answering(Answer::Durable),
    );
    setup.audit = AuditConfig {
        window: Duration::from_secs(3600),
        bucket: Duration::from_secs(60),
    };
    run_once(&archived(&setup, dir.path())).await.unwrap();
    assert_eq!(latest(dir.path()), notes(1..=3));
    setup.source.insert([row(4, at(2))]);
    let summary = run_once(&archived(&setup, dir.path())).await.unwrap();
    assert_eq!((summary.rows, summary.late.delivered), (0, 3));
    assert_eq!(latest(dir.path()), ["row 1", "row 4", "row 2"]);
}
