use super::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

#[test]
fn a_runs_copy_is_named_by_its_start_in_a_folder_per_day() {
    assert_eq!(
        dated_key(at("2026-01-22T04:00:07.123456Z")),
        "runs/2026/01/22/20260122T040007.123456Z.ndjson"
    );
    assert_eq!(
        dated_key(at("2026-12-31T23:59:59Z")),
        "runs/2026/12/31/20261231T235959.000000Z.ndjson"
    );
}

#[test]
fn a_location_is_a_folder_or_an_s3_prefix() {
    let options = S3Options::default();
    let s3 = ArchiveConfig::parse("s3://ops-exports/guardrail/", &options).unwrap();
    assert_eq!(s3.describe(), "s3://ops-exports/guardrail");
    assert_eq!(
        s3.latest_url().to_string(),
        "s3://ops-exports/guardrail/latest.ndjson"
    );
    let root = ArchiveConfig::parse("s3://ops-exports", &options).unwrap();
    assert_eq!(
        root.latest_url().to_string(),
        "s3://ops-exports/latest.ndjson"
    );
    let dir = ArchiveConfig::parse("/var/lib/guardrail/archive", &options).unwrap();
    assert_eq!(
        dir.latest_url().to_string(),
        "/var/lib/guardrail/archive/latest.ndjson"
    );
    let relative = ArchiveConfig::parse("archive", &options).unwrap();
    assert!(
        std::path::Path::new(&relative.latest_url().to_string()).is_absolute(),
        "the admin page may run elsewhere"
    );
    for bad in ["https://example.com/x", "s3://", "  "] {
        assert!(ArchiveConfig::parse(bad, &options).is_err(), "{bad}");
    }
}

#[test]
fn the_spool_counts_only_what_was_acknowledged_durably_or_finished() {
    let mut spool = Spool::off();
    let first = spool.append(b"{\"a\":1}\n", 1).unwrap();
    let second = spool.append(b"{\"b\":2}\n{\"c\":3}\n", 2).unwrap();
    assert_eq!(second, Mark { bytes: 24, rows: 3 });
    spool.delivered(first);
    assert_eq!(spool.delivered_rows(), 1);
    // Accepted until the sink finishes: not delivered before.
    spool.accepted(second);
    assert_eq!(spool.delivered_rows(), 1);
    spool.finished();
    assert_eq!(spool.delivered_rows(), 3);
}

#[tokio::test]
async fn a_folder_gets_the_delivered_prefix_as_a_dated_copy_and_latest() {
    let dir = tempfile::tempdir().unwrap();
    let archive = ArchiveConfig::Dir(dir.path().to_owned());
    let started = at("2026-01-22T04:00:00Z");

    // Nothing delivered: nothing written.
    let spool = archive.spool(started).unwrap();
    assert_eq!(
        archive.publish(&spool, started).await.unwrap(),
        Archiving::NothingNew
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let mut spool = archive.spool(started).unwrap();
    let delivered = spool.append(b"one\ntwo\n", 2).unwrap();
    spool.delivered(delivered);
    // Sent but never acknowledged: not archived.
    spool.append(b"three\n", 1).unwrap();
    let Archiving::Written(written) = archive.publish(&spool, started).await.unwrap() else {
        panic!("written");
    };
    assert_eq!((written.rows, written.bytes), (2, 8));
    let copy = dir
        .path()
        .join("runs/2026/01/22/20260122T040000.000000Z.ndjson");
    assert_eq!(written.copy, copy.display().to_string());
    assert_eq!(std::fs::read(&copy).unwrap(), b"one\ntwo\n");
    assert_eq!(
        std::fs::read(dir.path().join(LATEST)).unwrap(),
        b"one\ntwo\n"
    );
    // No temporary file is left behind.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["latest.ndjson", "runs"]);
}

#[test]
fn a_missing_folder_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let archive = ArchiveConfig::Dir(dir.path().join("nope"));
    let error = archive.spool(at("2026-01-22T04:00:00Z")).unwrap_err();
    assert_eq!(error.exit_code(), crate::error::exit::CONFIG);
    assert!(error.to_string().contains("does not exist"), "{error}");
}

#[tokio::test]
async fn what_a_killed_run_delivered_is_published_by_the_next_one_as_its_own_copy() {
    let dir = tempfile::tempdir().unwrap();
    let archive = ArchiveConfig::Dir(dir.path().to_owned());
    let killed_at = at("2026-01-22T04:00:00Z");
    // A run delivers one batch, sends another, and dies: its spool stays behind.
    let mut spool = archive.spool(killed_at).unwrap();
    let delivered = spool.append(b"one\ntwo\n", 2).unwrap();
    spool.delivered(delivered);
    spool.append(b"three\n", 1).unwrap();
    std::mem::forget(spool);
    // (The process is gone, and with it its lock; here the lock goes with a new handle.)
    let spool_dir = dir.path().join(".spool");
    let data = std::fs::read_dir(&spool_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .unwrap();
    let copied = dir.path().join("copied");
    std::fs::copy(&data, &copied).unwrap();
    std::fs::remove_file(&data).unwrap();
    std::fs::rename(&copied, &data).unwrap();

    assert_eq!(archive.publish_left().await.unwrap(), 2);
    let copy = dir
        .path()
        .join("runs/2026/01/22/20260122T040000.000000Z.ndjson");
    assert_eq!(std::fs::read(&copy).unwrap(), b"one\ntwo\n");
    assert_eq!(
        std::fs::read(dir.path().join(LATEST)).unwrap(),
        b"one\ntwo\n"
    );
    assert!(!spool_dir.exists(), "the spool is gone once published");
    assert_eq!(archive.publish_left().await.unwrap(), 0);
}
