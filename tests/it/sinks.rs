//! The stdout and file sinks: a closed pipe ends the run quietly, a file appears whole.

use std::time::Duration;

use crate::helpers::cli::BIN;
use crate::helpers::{Export, TestDb, ndjson_ids};

#[tokio::test]
async fn piping_into_head_ends_promptly_and_the_cursor_covers_only_what_was_written() {
    let db = TestDb::new().await;
    db.insert_generated(5000, 3, 3, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "'{BIN}' export --database-url '{}' --settle-seconds 0 --batch-size 100 \
         --cursor-store file --cursor-store-path cursor.json 2>stderr.txt | head -3; \
         echo \"${{PIPESTATUS[0]}}\" > code.txt",
        db.url
    );
    // The binary inherits bash's environment: sanitised as every run of the binary is.
    let run = crate::helpers::sanitise_env(&mut tokio::process::Command::new("bash"))
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("ends promptly")
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 3);
    let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    let code = std::fs::read_to_string(dir.path().join("code.txt")).unwrap();
    assert_eq!(code.trim(), "0", "stderr: {stderr}");
    for spew in ["error", "Broken pipe", "panicked", "os error"] {
        assert!(!stderr.contains(spew), "stderr has {spew}: {stderr}");
    }
    assert!(stderr.contains("output closed by its reader"), "{stderr}");

    // The cursor stands on a batch boundary before the end: batches flushed whole, no more.
    let cursor: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("cursor.json")).unwrap()).unwrap();
    let written = cursor["rows"].as_u64().unwrap() as usize;
    assert!(
        written.is_multiple_of(100) && written < 5000,
        "cursor claims {written} rows"
    );
    let all = db.ordered_ids(None).await;
    assert_eq!(ndjson_ids(&stdout), all[..3]);

    // The next run resumes right after the cursor: nothing lost.
    let rest = Export::new(dir.path())
        .db(&db.url)
        .args([
            "--cursor-store",
            "file",
            "--cursor-store-path",
            "cursor.json",
        ])
        .run()
        .await;
    assert_eq!(ndjson_ids(&rest.assert_success().stdout), all[written..]);
}

#[tokio::test]
async fn the_file_sink_writes_the_runs_rows_and_leaves_no_temporary_file() {
    let db = TestDb::new().await;
    db.insert_generated(2500, 3, 7, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    // A file a killed run left behind is removed by the next run.
    std::fs::write(
        dir.path()
            .join("out/.guardrail-guardrail.ndjson-Ab12Cd.ndjson.tmp"),
        "x",
    )
    .unwrap();
    let export = || {
        Export::new(dir.path()).db(&db.url).args([
            "--sink",
            "file",
            "--file-path",
            "out/guardrail.ndjson",
            "--cursor-store",
            "file",
            "--limit",
            "2000",
        ])
    };
    let out = export().run().await;
    assert!(
        out.assert_success().stdout.is_empty(),
        "rows go to the file, not stdout"
    );
    let file = std::fs::read_to_string(dir.path().join("out/guardrail.ndjson")).unwrap();
    let all = db.ordered_ids(None).await;
    assert_eq!(ndjson_ids(&file), all[..2000]);
    export().run().await.assert_success();
    let file = std::fs::read_to_string(dir.path().join("out/guardrail.ndjson")).unwrap();
    assert_eq!(
        ndjson_ids(&file),
        all[2000..],
        "the file holds the latest run's rows"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["guardrail.ndjson"]);
}

#[tokio::test]
async fn output_files_honour_the_umask_and_a_missing_folder_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new().await;
    db.insert_generated(5, 1, 1, "2026-01-22 04:00:00+00").await;
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path())
        .db(&db.url)
        .args([
            "--sink",
            "file",
            "--file-path",
            "rows.ndjson",
            "--cursor-store",
            "file",
        ])
        .args(["--status-path", "status.json"])
        .run()
        .await;
    out.assert_success();
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(
        mode("rows.ndjson"),
        0o666 & !crate::helpers::umask(),
        "the output file"
    );
    assert_eq!(
        mode("status.json"),
        0o666 & !crate::helpers::umask(),
        "the status file"
    );
    assert_eq!(
        mode("guardrail_followups_cursor.json"),
        0o600,
        "the cursor stays private"
    );

    let missing = Export::new(dir.path())
        .db(&db.url)
        .args([
            "--sink",
            "file",
            "--file-path",
            "no/such/folder/rows.ndjson",
        ])
        .run()
        .await;
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no/such/folder"),
        "{}",
        missing.stderr
    );
    assert!(!dir.path().join("no").exists(), "nothing was created");
}
