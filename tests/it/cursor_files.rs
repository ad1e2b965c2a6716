//! Cursor files: legacy formats are read, unusable ones stop the run and stay untouched,
//! concurrent runs are refused, and writes are atomic.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::helpers::{Export, TestDb, ndjson_ids};

/// Five rows, one second apart from 2026-01-01T00:00:01Z, for providers p-1 and p-2.
async fn five_rows() -> TestDb {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at)
             SELECT gen_random_uuid(), 'p-' || (1 + i % 2), 'pause', timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => i)
             FROM generate_series(1, 5) i",
        )
        .await
        .unwrap();
    db
}

fn with_file_cursor(dir: &Path, db: &TestDb) -> Export {
    Export::new(dir).db(&db.url).args([
        "--cursor-store",
        "file",
        "--cursor-store-path",
        "state/cursor.json",
    ])
}

fn created_ats(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["createdAt"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn legacy_cursor_files_are_read_and_rewritten_in_the_current_format() {
    let db = five_rows().await;
    for legacy in [
        "2026-01-01T00:00:03+00:00\n".to_owned(),
        r#"{"cursor": "2026-01-01T00:00:03+00:00", "rows": 842, "updatedAt": "2026-01-22T04:05:09+00:00"}"#.to_owned(),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        std::fs::write(dir.path().join("state/cursor.json"), &legacy).unwrap();
        let out = with_file_cursor(dir.path(), &db).run().await;
        out.assert_success();
        // A timestamp alone cannot say which rows at that instant were sent: they are sent again.
        assert_eq!(
            created_ats(&out.stdout),
            ["2026-01-01T00:00:03.000000Z", "2026-01-01T00:00:04.000000Z", "2026-01-01T00:00:05.000000Z"],
            "from {legacy}"
        );
        let rewritten: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("state/cursor.json")).unwrap()).unwrap();
        assert_eq!(rewritten["cursor"], "2026-01-01T00:00:05.000000Z");
        assert_eq!(rewritten["rows"], 3);
        assert!(rewritten["cursorId"].is_string() && rewritten["updatedAt"].is_string());
        assert!(with_file_cursor(dir.path(), &db).run().await.assert_success().stdout.is_empty());
    }
}

#[tokio::test]
async fn a_corrupt_cursor_stops_the_run_and_is_left_byte_for_byte() {
    let db = five_rows().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    let path = dir.path().join("state/cursor.json");
    let corrupt = b"{\"cursor\": \"2026-01-01T00:00:0".to_vec();
    std::fs::write(&path, &corrupt).unwrap();

    let out = with_file_cursor(dir.path(), &db).run().await;
    assert_eq!(out.code, 2, "stderr: {}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("state/cursor.json") && out.stderr.contains("--reset-cursor"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one clear line: {}",
        out.stderr
    );
    assert_eq!(std::fs::read(&path).unwrap(), corrupt);

    let out = with_file_cursor(dir.path(), &db)
        .args(["--reset-cursor"])
        .run()
        .await;
    assert_eq!(ndjson_ids(&out.assert_success().stdout).len(), 5);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"version\": 2")
    );
}

#[tokio::test]
async fn a_cursor_bound_to_another_provider_stops_the_run_untouched() {
    let db = five_rows().await;
    let dir = tempfile::tempdir().unwrap();
    let out = with_file_cursor(dir.path(), &db)
        .args(["--provider-id", "p-1"])
        .run()
        .await;
    assert_eq!(ndjson_ids(&out.assert_success().stdout).len(), 2);
    let path = dir.path().join("state/cursor.json");
    let before = std::fs::read(&path).unwrap();

    for other in [&["--provider-id", "p-2"][..], &[]] {
        let out = with_file_cursor(dir.path(), &db).args(other).run().await;
        assert_eq!(out.code, 2, "stderr: {}", out.stderr);
        assert!(out.stdout.is_empty());
        assert!(
            out.stderr.contains("--provider-id p-1") && out.stderr.contains("--reset-cursor"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("state/cursor.json"), "{}", out.stderr);
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

#[tokio::test]
async fn a_second_run_on_the_same_cursor_is_refused_while_the_first_runs() {
    let db = TestDb::new().await;
    db.insert_generated(5000, 3, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    // The first run writes to a pipe nobody reads, so it blocks holding the lock.
    let mut first = with_file_cursor(dir.path(), &db)
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The lock file appears a moment before the lock on it is taken: wait for the lock itself.
    let lock = dir.path().join("state/cursor.json.lock");
    for _ in 0..200 {
        if is_flocked(&lock) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = with_file_cursor(dir.path(), &db).run().await;
    assert_eq!(second.code, 3, "stderr: {}", second.stderr);
    assert!(
        second.stderr.contains("another export is running"),
        "{}",
        second.stderr
    );
    assert!(second.stdout.is_empty());

    // Let the first run finish: it delivers everything, and the lock is free again.
    let mut stdout = first.stdout.take().unwrap();
    let mut all = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut all)
        .await
        .unwrap();
    assert!(first.wait().await.unwrap().success());
    assert_eq!(String::from_utf8(all).unwrap().lines().count(), 5000);
    assert_eq!(
        with_file_cursor(dir.path(), &db)
            .run()
            .await
            .assert_success()
            .stdout,
        ""
    );
}

#[tokio::test]
async fn a_reader_never_sees_a_partial_cursor_file() {
    let db = TestDb::new().await;
    db.insert_generated(400, 3, 2, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/cursor.json");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(bytes) = std::fs::read(&path) {
                    let value: serde_json::Value =
                        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                            panic!(
                                "partial cursor file ({e}): {}",
                                String::from_utf8_lossy(&bytes)
                            )
                        });
                    assert!(value["cursor"].is_string());
                    reads += 1;
                }
            }
            reads
        })
    };
    for _ in 0..8 {
        with_file_cursor(dir.path(), &db)
            .args(["--limit", "50", "--batch-size", "1"])
            .run()
            .await
            .assert_success();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0, "the reader saw the file");
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["cursor.json", "cursor.json.lock"],
        "no temporary files left behind"
    );
}

#[tokio::test]
async fn a_cursor_file_with_an_impossible_audit_bucket_is_refused_naming_the_field() {
    let db = five_rows().await;
    for (bucket, bucket_seconds) in [
        ("9223372036854775807", 60),
        ("-9223372036854775808", 60),
        ("1", 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let poisoned = format!(
            r#"{{"cursor": "2026-01-01T00:00:03.000000Z", "cursorId": "34499643-553a-4182-8a9d-508c35871667",
                "rows": 3, "updatedAt": "2026-01-22T04:05:09.000000Z", "providerId": null, "totalRows": 3, "version": 2,
                "audit": {{"since": null, "sinceId": null, "bucketSeconds": {bucket_seconds}, "buckets": [[{bucket}, 1, "5"]]}}}}"#
        );
        let path = dir.path().join("state/cursor.json");
        std::fs::write(&path, &poisoned).unwrap();
        let export = with_file_cursor(dir.path(), &db).run().await;
        let show = Export::subcommand(dir.path(), &["cursor", "show"])
            .args([
                "--cursor-store",
                "file",
                "--cursor-store-path",
                "state/cursor.json",
            ])
            .run()
            .await;
        for out in [&export, &show] {
            assert_eq!(out.code, 2, "{bucket}: {}", out.stderr);
            assert!(out.stderr.contains("state/cursor.json"), "{}", out.stderr);
            assert!(out.stderr.contains("audit bucket"), "{}", out.stderr);
        }
        assert!(export.stdout.is_empty());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            poisoned,
            "left untouched"
        );
    }
}

/// Whether some process holds a `flock` on `path`, as `/proc/locks` lists them (without taking
/// it, which could make the holder's own attempt fail).
fn is_flocked(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(inode) = std::fs::metadata(path).map(|m| m.ino()) else {
        return false;
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    locks.lines().any(|line| {
        // `1: FLOCK  ADVISORY  WRITE 2558 fe:00:5718019 0 EOF`: MAJOR:MINOR:INODE.
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&"FLOCK")
            && fields
                .get(5)
                .and_then(|device_inode| device_inode.rsplit(':').next())
                .is_some_and(|n| n == inode.to_string())
    })
}

#[tokio::test]
async fn cursor_show_raw_prints_the_stored_file_as_it_is_and_nothing_before_one_exists() {
    let db = five_rows().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    let raw = || {
        Export::subcommand(dir.path(), &["cursor", "show", "--raw"]).args([
            "--cursor-store",
            "file",
            "--cursor-store-path",
            "state/cursor.json",
        ])
    };
    let none = raw().run().await;
    assert_eq!(
        (none.code, none.stdout.as_str()),
        (0, ""),
        "{}",
        none.stderr
    );
    with_file_cursor(dir.path(), &db)
        .run()
        .await
        .assert_success();
    let shown = raw().run().await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let stored = std::fs::read_to_string(dir.path().join("state/cursor.json")).unwrap();
    assert_eq!(shown.stdout, stored);
    // The copy is a cursor another store can use as it is.
    assert!(guardrail_followups::cursor::parse(shown.stdout.as_bytes()).is_ok());
}
