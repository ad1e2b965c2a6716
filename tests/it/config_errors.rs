//! Bad configuration and dead databases: one clear line, the right exit code, nothing moved.

use crate::helpers::cli::BIN;
use crate::helpers::{Export, TestDb};

#[tokio::test]
async fn without_a_database_the_export_refuses_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path()).run().await;
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("DATABASE_URL") && out.stderr.contains("--demo"),
        "{}",
        out.stderr
    );
    assert!(
        !dir.path().join("guardrail-demo.sqlite").exists(),
        "no demo database without --demo"
    );
}

#[tokio::test]
async fn a_dead_database_fails_without_moving_the_cursor_or_showing_the_password() {
    let db = TestDb::new().await;
    db.insert_generated(10, 1, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let with_cursor = |url: &str| {
        Export::new(dir.path())
            .db(url)
            .args(["--cursor-store", "file", "--limit", "4"])
    };
    with_cursor(&db.url).run().await.assert_success();
    let cursor = std::fs::read(dir.path().join("guardrail_followups_cursor.json")).unwrap();

    // Nothing listens on port 9 of loopback.
    let dead = "postgres://exporter:hunter2-secret@127.0.0.1:9/app";
    let out = with_cursor(dead).run().await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot connect to PostgreSQL at 127.0.0.1:9/app"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    assert_eq!(
        std::fs::read(dir.path().join("guardrail_followups_cursor.json")).unwrap(),
        cursor
    );
}

#[tokio::test]
async fn a_database_without_the_table_is_named_in_the_error() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute("DROP TABLE provider_guardrail_followup")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path()).db(&db.url).run().await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("table provider_guardrail_followup does not exist"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn help_documents_every_flag_its_environment_variable_and_the_exit_codes() {
    let out = crate::helpers::sanitise_env(&mut tokio::process::Command::new(BIN))
        .args(["export", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--limit",
        "--provider-id",
        "--cursor ",
        "--sink",
        "--file-path",
        "--cursor-store ",
        "--cursor-store-path",
        "--database-url",
        "--demo",
        "--settle-seconds",
        "--batch-size",
        "--reset-cursor",
        "--quiet",
        "--log-format",
        "[env: DATABASE_URL",
        "[env: GUARDRAIL_EXPORT_CURSOR_STORE_PATH=",
        "Exit codes:",
        "3  another run holds",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[tokio::test]
async fn flags_can_come_from_the_environment() {
    let db = TestDb::new().await;
    db.insert_generated(10, 2, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path())
        .env("DATABASE_URL", &db.url)
        .env("GUARDRAIL_EXPORT_LIMIT", "3")
        .env("GUARDRAIL_EXPORT_PROVIDER_ID", "provider-1")
        .run()
        .await;
    let lines = out.assert_success().lines();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l.contains(r#""providerId":"provider-1""#))
    );
}

#[tokio::test]
async fn empty_environment_variables_count_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path())
        .args(["--demo"])
        .env("GUARDRAIL_EXPORT_LIMIT", "")
        .env("GUARDRAIL_EXPORT_SINK", "")
        .env("GUARDRAIL_EXPORT_CURSOR_STORE", "")
        .env("ANALYTICS_GUARDRAIL_WEBHOOK", "")
        .run()
        .await;
    assert_eq!(
        out.assert_success().lines().len(),
        guardrail_followups::demo::DEMO_ROWS
    );
}

#[tokio::test]
async fn numeric_flags_out_of_their_range_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    for flag in [
        "--audit-window-seconds",
        "--settle-seconds",
        "--hold-back-seconds",
        "--db-read-timeout-seconds",
    ] {
        let out = Export::subcommand(dir.path(), &["export"])
            .args(["--demo", flag, "10000000000000"])
            .run()
            .await;
        assert_eq!(out.code, 2, "{flag}: {}", out.stderr);
        assert!(out.stderr.contains(flag), "{flag}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{flag}");
    }
}

#[tokio::test]
async fn a_row_dated_before_year_1_fails_the_run_naming_it_and_moves_nothing() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at) VALUES
               ('00000000-0000-4000-8000-00000000000a', 'p', 'pause', '2026-01-01 00:00:00+00'),
               ('00000000-0000-4000-8000-00000000000b', 'p', 'pause', '0044-03-15 00:00:00+00 BC')",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path())
        .db(&db.url)
        .args(["--cursor-store", "file", "--audit-window-seconds", "0"])
        .run()
        .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("00000000-0000-4000-8000-00000000000b")
            && out.stderr.contains("outside the years 1"),
        "{}",
        out.stderr
    );
    // It sorts first: nothing was delivered, and the cursor did not move.
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let cursor = std::fs::read_to_string(dir.path().join("guardrail_followups_cursor.json"))
        .unwrap_or_default();
    assert!(
        !cursor.contains("00000000-0000-4000-8000-00000000000a"),
        "{cursor}"
    );
}

/// Every file a run could write, below `dir`, as variables (a case's flag overrides one): the
/// status, the metrics, the archive, the cursor and its lock, dead letters.
fn every_destination(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let at = |name: &str| dir.join(name).display().to_string();
    vec![
        ("GUARDRAIL_EXPORT_STATUS_PATH", at("state/status.json")),
        ("GUARDRAIL_EXPORT_METRICS_PATH", at("state/metrics.prom")),
        ("GUARDRAIL_EXPORT_ARCHIVE_URI", at("archive")),
        ("GUARDRAIL_EXPORT_CURSOR_STORE", "file".into()),
        (
            "GUARDRAIL_EXPORT_CURSOR_STORE_PATH",
            at("state/cursor.json"),
        ),
        ("GUARDRAIL_EXPORT_DEAD_LETTER_DIR", at("dead")),
    ]
}

/// The files below `dir`, as paths relative to it.
fn files_below(dir: &std::path::Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

#[tokio::test]
async fn every_configuration_error_exits_2_and_leaves_no_file_behind() {
    let db = TestDb::new().await;
    db.insert_generated(10, 1, 1, "2026-01-22 04:00:00+00")
        .await;
    for (case, args, message) in [
        (
            "the file sink's folder is missing",
            vec!["--sink", "file", "--file-path", "missing/rows.ndjson"],
            "the folder missing of --file-path does not exist",
        ),
        (
            "the archive folder is missing",
            vec!["--archive-uri", "no-such-archive"],
            "the --archive-uri folder no-such-archive does not exist",
        ),
        (
            "a webhook sink without a URL",
            vec!["--sink", "webhook"],
            "--sink webhook needs --webhook-url",
        ),
        (
            "a short webhook secret",
            vec![
                "--sink",
                "webhook",
                "--webhook-url",
                "http://127.0.0.1:9/v1/followups",
                "--webhook-secret",
                "short",
            ],
            "--webhook-secret",
        ),
        (
            "a cursor that is not a timestamp",
            vec!["--cursor", "yesterday"],
            "--cursor",
        ),
        (
            "the metrics in S3",
            vec!["--metrics-path", "s3://bucket/metrics.prom"],
            "--metrics-path",
        ),
        (
            "a workflow URL that is not a URL",
            vec!["--workflow-url", "not a url"],
            "--workflow-url",
        ),
        (
            "an S3 cursor store without its URI",
            vec!["--cursor-store", "s3"],
            "--cursor-store-uri",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("archive")).unwrap();
        let mut export = Export::new(dir.path()).db(&db.url).args(&args);
        for (name, value) in every_destination(dir.path()) {
            export = export.env(name, &value);
        }
        let out = export.run().await;
        assert_eq!(out.code, 2, "{case}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{case}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{case}: nothing exported");
        assert_eq!(
            files_below(dir.path()),
            Vec::<String>::new(),
            "{case}: nothing written"
        );
    }
}
