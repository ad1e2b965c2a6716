//! Operations: the S3 cursor store, the status JSON, Slack messages, secrets kept out of every
//! message, and `check`.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::faulty::{Fault, FaultyServer, terminate_mid_run};
use crate::helpers::s3::TestBucket;
use crate::helpers::{Export, TestDb, ndjson_ids};

fn with_s3_cursor(export: Export, bucket: &TestBucket) -> Export {
    export.args([
        "--cursor-store",
        "s3",
        "--cursor-store-uri",
        &bucket.uri("state/guardrail_followups_cursor.json"),
        "--s3-endpoint",
        &bucket.endpoint,
    ])
}

/// This machine's host name, as a lease records it.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

/// Puts a lease for the test cursor, as a run on `host` with `pid` would hold it.
async fn put_lease(bucket: &TestBucket, host: &str, pid: u32, expires_at: &str) {
    put_lease_in(bucket, host, pid, None, expires_at).await;
}

/// [`put_lease`], with the kernel identity (`<boot id>/<pid namespace>`) the lease records.
async fn put_lease_in(
    bucket: &TestBucket,
    host: &str,
    pid: u32,
    kernel: Option<&str>,
    expires_at: &str,
) {
    let kernel = kernel.map_or_else(String::new, |k| format!(r#""kernel":"{k}","#));
    let lease = format!(
        r#"{{"owner":"x","host":"{host}","pid":{pid},{kernel}"startedAt":"2026-01-01T00:00:00.000000Z","expiresAt":"{expires_at}"}}"#
    );
    object_store::ObjectStoreExt::put(
        &bucket.store,
        &object_store::path::Path::from("state/guardrail_followups_cursor.json.lock"),
        bytes::Bytes::from(lease).into(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_s3_cursor_resumes_exactly_where_the_previous_run_stopped() {
    let db = TestDb::new().await;
    db.insert_generated(500, 4, 6, "2026-01-22 04:00:00+00")
        .await;
    let bucket = TestBucket::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut delivered = Vec::new();
    for _ in 0..6 {
        let out = with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket)
            .args(["--limit", "120"])
            .run()
            .await;
        delivered.extend(ndjson_ids(&out.assert_success().stdout));
    }
    assert_eq!(delivered, db.ordered_ids(None).await);
    let cursor: Value = serde_json::from_slice(
        &bucket
            .get("state/guardrail_followups_cursor.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(cursor["totalRows"], 500);
    assert_eq!(cursor["rows"], 0, "the last run found nothing new");
    assert!(
        bucket
            .get("state/guardrail_followups_cursor.json.lock")
            .await
            .is_none(),
        "the lease was released"
    );
}

#[tokio::test]
async fn a_second_run_on_a_busy_s3_cursor_is_refused_and_delivers_nothing() {
    let db = TestDb::new().await;
    db.insert_generated(5000, 4, 1, "2026-01-22 04:00:00+00")
        .await;
    let bucket = TestBucket::new().await;
    let dir = tempfile::tempdir().unwrap();
    let export = || with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket);
    // The first run blocks on a pipe nobody reads, holding the lease.
    let mut first = export()
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if bucket
            .get("state/guardrail_followups_cursor.json.lock")
            .await
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = export().run().await;
    assert_eq!(second.code, 3, "{}", second.stderr);
    assert!(second.stdout.is_empty(), "the loser delivers nothing");
    assert!(
        second.stderr.contains("another export holds the S3 cursor"),
        "{}",
        second.stderr
    );

    let mut stdout = first.stdout.take().unwrap();
    let mut all = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut all)
        .await
        .unwrap();
    assert!(first.wait().await.unwrap().success());
    assert_eq!(ndjson_ids(&all), db.ordered_ids(None).await);
    let cursor: Value = serde_json::from_slice(
        &bucket
            .get("state/guardrail_followups_cursor.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        cursor["totalRows"], 5000,
        "the cursor matches what was delivered"
    );
}

#[tokio::test]
async fn runs_racing_on_one_s3_cursor_never_deliver_a_row_twice() {
    let db = TestDb::new().await;
    db.insert_generated(3000, 4, 2, "2026-01-22 04:00:00+00")
        .await;
    let bucket = TestBucket::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut delivered = Vec::new();
    let mut refused = 0;
    // Small batches: each run saves the cursor 80 times, so two runs started together overlap.
    for _ in 0..4 {
        let export = || {
            with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket).args([
                "--limit",
                "400",
                "--batch-size",
                "5",
            ])
        };
        let (one, two) = (export(), export());
        let (a, b) = tokio::join!(one.run(), two.run());
        for out in [a, b] {
            match out.code {
                0 => delivered.extend(ndjson_ids(&out.stdout)),
                3 => {
                    refused += 1;
                    assert!(out.stdout.is_empty());
                }
                code => panic!("exit {code}: {}", out.stderr),
            }
        }
    }
    assert!(refused > 0, "at least one race was lost");
    let expected = db.ordered_ids(None).await;
    assert_eq!(
        delivered,
        expected[..delivered.len()],
        "no row twice, none skipped"
    );
    let cursor: Value = serde_json::from_slice(
        &bucket
            .get("state/guardrail_followups_cursor.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        cursor["totalRows"],
        delivered.len(),
        "the cursor is consistent with what was delivered"
    );
}

#[tokio::test]
async fn an_expired_lease_left_by_a_crashed_run_is_taken_over() {
    let db = TestDb::new().await;
    db.insert_generated(10, 1, 1, "2026-01-22 04:00:00+00")
        .await;
    let bucket = TestBucket::new().await;
    put_lease(&bucket, "gone", 1, "2026-01-01T00:15:00.000000Z").await;
    let dir = tempfile::tempdir().unwrap();
    let out = with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket)
        .run()
        .await;
    assert_eq!(ndjson_ids(&out.assert_success().stdout).len(), 10);
    assert!(
        out.stderr.contains("took over the expired lease"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_lease_held_past_its_length_is_renewed_so_a_second_run_is_still_refused() {
    let db = TestDb::new().await;
    db.insert_generated(5000, 4, 1, "2026-01-22 04:00:00+00")
        .await;
    let bucket = TestBucket::new().await;
    let dir = tempfile::tempdir().unwrap();
    let export = || {
        with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket)
            .args(["--cursor-lease-seconds", "10"])
    };
    let lock = "state/guardrail_followups_cursor.json.lock";
    let expires = |bytes: Vec<u8>| -> String {
        serde_json::from_slice::<Value>(&bytes).unwrap()["expiresAt"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // The first run blocks on a pipe nobody reads, holding the lease for longer than it lasts.
    let mut first = export()
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut taken = None;
    for _ in 0..200 {
        taken = bucket.get(lock).await;
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_expiry = expires(taken.expect("the first run took the lease"));
    // Real time passing is the point here: the lease as first taken must have run out (its
    // 10 s), so wait until the clock is past its expiry, then a little more.
    let deadline = chrono::DateTime::parse_from_rfc3339(&first_expiry)
        .unwrap_or_else(|e| panic!("expiresAt `{first_expiry}`: {e}"))
        .with_timezone(&chrono::Utc);
    let left = (deadline - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(300)).await;
    let renewed = expires(bucket.get(lock).await.expect("the lease is still there"));
    assert!(
        renewed > first_expiry,
        "renewed: {renewed} after {first_expiry}"
    );
    let second = export().run().await;
    assert_eq!(second.code, 3, "{}", second.stderr);
    assert!(second.stdout.is_empty());

    let mut stdout = first.stdout.take().unwrap();
    let mut all = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut all)
        .await
        .unwrap();
    assert!(first.wait().await.unwrap().success());
    assert_eq!(ndjson_ids(&all), db.ordered_ids(None).await);
    assert!(bucket.get(lock).await.is_none(), "released at the end");
}

#[tokio::test]
async fn a_lease_of_a_dead_process_on_this_host_is_named_as_gone() {
    let db = TestDb::new().await;
    let bucket = TestBucket::new().await;
    put_lease(
        &bucket,
        &this_host(),
        4_000_000,
        "2999-01-01T00:15:00.000000Z",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket)
        .run()
        .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    for phrase in [
        "pid 4000000",
        "that is gone",
        "expires at 2999-01-01",
        "cursor unlock",
    ] {
        assert!(out.stderr.contains(phrase), "{phrase}: {}", out.stderr);
    }
}

#[tokio::test]
async fn the_status_json_matches_the_run_in_a_file_and_in_s3() {
    let db = TestDb::new().await;
    db.insert_generated(250, 2, 1, "2026-01-22 04:00:00+00")
        .await;
    let bucket = TestBucket::new().await;
    let dir = tempfile::tempdir().unwrap();
    let status_s3 = bucket.uri("status/guardrail.json");
    for (target, limit) in [("out/status.json", "100"), (status_s3.as_str(), "70")] {
        let out = Export::new(dir.path())
            .db(&db.url)
            .args([
                "--cursor-store",
                "file",
                "--limit",
                limit,
                "--status-path",
                target,
                "--s3-endpoint",
                &bucket.endpoint,
            ])
            .args([
                "--download-url",
                "https://exports.example.com/guardrail/latest.ndjson",
            ])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "smplat/smplat")
            .env("GITHUB_RUN_ID", "1234567890")
            .run()
            .await;
        let rows: Vec<Value> = out
            .assert_success()
            .lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let bytes = match target.strip_prefix(&format!("s3://{}/", bucket.name)) {
            Some(key) => bucket.get(key).await.expect("status object written"),
            None => std::fs::read(dir.path().join(target)).unwrap(),
        };
        let status: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status["rows"], rows.len(), "{target}");
        assert_eq!(
            status["cursor"],
            rows.last().unwrap()["createdAt"],
            "{target}"
        );
        assert_eq!(
            status["cursorId"],
            rows.last().unwrap()["followUpId"],
            "{target}"
        );
        assert_eq!(
            status["downloadUrl"],
            "https://exports.example.com/guardrail/latest.ndjson"
        );
        assert_eq!(
            status["workflowUrl"],
            "https://github.com/smplat/smplat/actions/runs/1234567890"
        );
        assert!(status["updatedAt"].as_str().unwrap().ends_with('Z'));
        // The admin page's reader takes every field with its type.
        let read = guardrail_followups::status::Status::parse(&bytes)
            .expect("the admin page reads the status");
        let last = rows.last().unwrap();
        assert_eq!(
            read.cursor.value().map(|c| c.text.as_str()),
            last["createdAt"].as_str()
        );
        assert_eq!(read.rows.value(), Some(&(rows.len() as u64)));
        assert!(read.updated_at.value().is_some(), "{target}: updatedAt");
        assert_eq!(
            read.download_url
                .value()
                .map(ToString::to_string)
                .as_deref(),
            Some("https://exports.example.com/guardrail/latest.ndjson")
        );
        assert_eq!(
            read.workflow_url.value().map(|u| u.0.as_str()),
            Some("https://github.com/smplat/smplat/actions/runs/1234567890")
        );
    }
}

#[tokio::test]
async fn slack_hears_of_every_run_and_its_trouble_never_fails_the_export() {
    let db = TestDb::new().await;
    db.insert_generated(30, 2, 1, "2026-01-22 04:00:00+00")
        .await;
    let slack = FaultyServer::start(vec![Fault::status(200), Fault::status(500)]).await;
    let dir = tempfile::tempdir().unwrap();
    let export = || {
        Export::new(dir.path())
            .db(&db.url)
            .args([
                "--cursor-store",
                "file",
                "--limit",
                "20",
                "--workflow-url",
                "https://ci.example.com/runs/7",
            ])
            .env("GUARDRAIL_EXPORT_SLACK_WEBHOOK", &slack.url)
    };
    let out = export().run().await;
    out.assert_success();
    let message: Value = serde_json::from_slice(&slack.received()[0].body).unwrap();
    let text = message["text"].as_str().unwrap();
    let last = serde_json::from_str::<Value>(out.lines().last().unwrap()).unwrap();
    assert!(text.contains("20 rows exported"), "{text}");
    assert!(
        text.contains(last["createdAt"].as_str().unwrap()),
        "the next cursor: {text}"
    );
    assert!(
        text.contains("https://ci.example.com/runs/7"),
        "the run link: {text}"
    );

    // Slack answers 500: the export still succeeds, with a warning.
    let out = export().run().await;
    out.assert_success();
    assert!(
        out.stderr.contains("Slack message not sent"),
        "{}",
        out.stderr
    );

    // A failed run is reported as a failure.
    let out = export()
        .args([
            "--reset-cursor",
            "--sink",
            "webhook",
            "--webhook-url",
            "http://127.0.0.1:9/in",
            "--webhook-max-attempts",
            "1",
        ])
        .run()
        .await;
    assert_eq!(out.code, 1);
    let message: Value = serde_json::from_slice(&slack.received()[2].body).unwrap();
    let text = message["text"].as_str().unwrap();
    assert!(
        text.contains("export failed") && text.contains("did not accept"),
        "{text}"
    );
}

#[tokio::test]
async fn no_secret_appears_in_stderr_json_logs_or_slack() {
    let db = TestDb::new().await;
    db.insert_generated(5, 1, 1, "2026-01-22 04:00:00+00").await;
    // The receiver refuses with a body that echoes the credentials back, as careless servers do.
    let echo = "invalid token tok-7f3a9c2e1b for /in?token=url-tok-55aa66 (secret whsec-9d8c7b6a)";
    let webhook = FaultyServer::start(vec![Fault::Status(401, vec![], echo.into()); 2]).await;
    let slack = FaultyServer::start(vec![]).await;
    let slack_url = format!(
        "{}/services/T0001/B0002/slackpathsecret",
        slack.url.trim_end_matches("/v1/followups")
    );
    let secrets = [
        "tok-7f3a9c2e1b",
        "url-tok-55aa66",
        "whsec-9d8c7b6a",
        "slackpathsecret",
    ];
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Export::new(dir.path())
            .args([
                "--log-format",
                format,
                "--sink",
                "webhook",
                "--cursor-store",
                "file",
            ])
            .env("DATABASE_URL", &db.url)
            .env(
                "ANALYTICS_GUARDRAIL_WEBHOOK",
                &format!("{}?token=url-tok-55aa66", webhook.url),
            )
            .env("GUARDRAIL_EXPORT_WEBHOOK_TOKEN", "tok-7f3a9c2e1b")
            .env("GUARDRAIL_EXPORT_WEBHOOK_SECRET", "whsec-9d8c7b6a")
            .env("GUARDRAIL_EXPORT_SLACK_WEBHOOK", &slack_url)
            .run()
            .await;
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains("refused"), "{}", out.stderr);
        let slack_text = String::from_utf8(slack.received().last().unwrap().body.clone()).unwrap();
        for secret in secrets {
            assert!(
                !out.stderr.contains(secret),
                "{secret} in stderr ({format}): {}",
                out.stderr
            );
            assert!(
                !slack_text.contains(secret),
                "{secret} in Slack: {slack_text}"
            );
        }
    }
    // A wrong database password: the message names the server, never the password.
    let dir = tempfile::tempdir().unwrap();
    let wrong = db
        .url
        .replacen("postgres:postgres@", "postgres:Pg-Wr0ng-pass@", 1);
    let out = Export::new(dir.path())
        .db(&wrong)
        .env("GUARDRAIL_EXPORT_SLACK_WEBHOOK", &slack_url)
        .run()
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("password authentication failed"),
        "{}",
        out.stderr
    );
    let slack_text = String::from_utf8(slack.received().last().unwrap().body.clone()).unwrap();
    assert!(
        slack_text.contains("password authentication failed"),
        "{slack_text}"
    );
    for text in [&out.stderr, &slack_text] {
        assert!(!text.contains("Pg-Wr0ng-pass"), "{text}");
    }
}

#[tokio::test]
async fn check_reports_each_problem_with_its_fix() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-folder"), "x").unwrap();
    let wrong_password = db.url.replacen("postgres:postgres@", "postgres:nope@", 1);
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            vec!["--database-url".into(), wrong_password],
            "password authentication failed",
            "check the user and password in DATABASE_URL",
        ),
        (
            // A missing index is a note; --strict makes it a problem.
            vec!["--database-url".into(), db.url.clone(), "--strict".into()],
            "no index on (created_at, id)",
            "CREATE INDEX CONCURRENTLY",
        ),
        (
            vec![
                "--cursor-store".into(),
                "file".into(),
                "--cursor-store-path".into(),
                "not-a-folder/cursor.json".into(),
            ],
            "cannot create the cursor folder",
            "--cursor-store-path in a folder the export's user can write",
        ),
        (
            vec![
                "--sink".into(),
                "webhook".into(),
                "--webhook-url".into(),
                "http://127.0.0.1:9/v1/followups".into(),
            ],
            "is unreachable",
            "start the gateway",
        ),
    ];
    for (args, problem, fix) in cases {
        let out = Export::subcommand(dir.path(), &["check"])
            .args(&args)
            .run()
            .await;
        assert_eq!(out.code, 1, "{args:?}: {}", out.stdout);
        let lines: Vec<&str> = out.stdout.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("problem") && l.contains(problem));
        let at =
            at.unwrap_or_else(|| panic!("{problem} not reported for {args:?}:\n{}", out.stdout));
        assert!(lines[at + 1].contains(fix), "{args:?}: {}", out.stdout);
    }
    // Missing table.
    db.client()
        .await
        .batch_execute("DROP TABLE provider_guardrail_followup")
        .await
        .unwrap();
    let out = Export::subcommand(dir.path(), &["check", "--database-url", &db.url])
        .run()
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("does not exist")
            && out
                .stdout
                .contains("point DATABASE_URL at the application's database"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn check_passes_on_a_good_configuration() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute("CREATE INDEX provider_guardrail_followup_created_at_id_idx ON provider_guardrail_followup (created_at, id)")
        .await
        .unwrap();
    let receiver = FaultyServer::start(vec![Fault::status(422)]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = Export::subcommand(
        dir.path(),
        &["check", "--database-url", &db.url, "--cursor-store", "file"],
    )
    .args(["--sink", "webhook", "--webhook-url", &receiver.url])
    .run()
    .await;
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(
        out.stdout.lines().filter(|l| l.starts_with("ok")).count(),
        5,
        "{}",
        out.stdout
    );
    assert!(
        !dir.path().join("guardrail_followups_cursor.json").exists(),
        "check writes no cursor"
    );
}

#[tokio::test]
async fn check_says_whether_runs_can_stop_before_open_transactions() {
    let db = TestDb::new().await;
    let role = format!("exporter_{}", uuid::Uuid::new_v4().simple());
    db.client()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'exporter-pw'; GRANT SELECT ON provider_guardrail_followup TO {role}"
        ))
        .await
        .unwrap();
    let as_role = db
        .url
        .replacen("postgres:postgres@", &format!("{role}:exporter-pw@"), 1);
    let dir = tempfile::tempdir().unwrap();
    let out = Export::subcommand(dir.path(), &["check", "--database-url", &as_role])
        .run()
        .await;
    assert!(out.stdout.contains("ok       database"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("note     hold-back     this role sees only its own sessions"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("GRANT pg_read_all_stats TO {role};")),
        "{}",
        out.stdout
    );
    // Notes are not problems: the missing index and the role's view are notes, and the check
    // passes; with --strict both count.
    let problems = |stdout: &str| stdout.lines().filter(|l| l.starts_with("problem")).count();
    assert!(
        out.stdout.contains("note     index") && out.stdout.contains("CREATE INDEX CONCURRENTLY"),
        "{}",
        out.stdout
    );
    assert_eq!((out.code, problems(&out.stdout)), (0, 0), "{}", out.stdout);
    let strict = Export::subcommand(
        dir.path(),
        &["check", "--strict", "--database-url", &as_role],
    )
    .run()
    .await;
    assert_eq!(
        (strict.code, problems(&strict.stdout)),
        (1, 2),
        "{}",
        strict.stdout
    );
}

#[tokio::test]
async fn cursor_set_show_and_reset_say_what_changed() {
    let db = TestDb::new().await;
    db.insert_generated(100, 1, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cursor = |words: &[&str]| {
        Export::subcommand(dir.path(), &[&["cursor"], words].concat()).args([
            "--cursor-store",
            "file",
            "--database-url",
            &db.url,
        ])
    };

    let out = cursor(&["set", "2026-01-22T04:01:00Z"]).run().await;
    assert!(
        out.assert_success()
            .stdout
            .contains("now:    rows at or after 2026-01-22T04:01:00.000000Z"),
        "{}",
        out.stdout
    );
    let out = cursor(&["show"]).run().await;
    assert!(
        out.assert_success().stdout.contains("rows behind: 40"),
        "{}",
        out.stdout
    );
    let exported = Export::new(dir.path())
        .db(&db.url)
        .args(["--cursor-store", "file"])
        .run()
        .await;
    assert_eq!(
        ndjson_ids(&exported.assert_success().stdout),
        db.ordered_ids(None).await[60..]
    );
    let out = cursor(&["show"]).run().await;
    assert!(
        out.assert_success().stdout.contains("rows behind: 0"),
        "{}",
        out.stdout
    );
    let out = cursor(&["reset"]).run().await;
    assert!(
        out.assert_success().stdout.contains("now:    every row"),
        "{}",
        out.stdout
    );
    let out = cursor(&["show"]).run().await;
    assert!(
        out.assert_success().stdout.contains("rows behind: 100"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn echoed_bearer_tokens_and_url_path_secrets_never_show_while_plain_urls_stay_readable() {
    let db = TestDb::new().await;
    db.insert_generated(5, 1, 1, "2026-01-22 04:00:00+00").await;
    let echo = || {
        Fault::Status(
            503,
            vec![],
            "upstream said: Authorization: Bearer someone-elses-token-5566 is invalid".into(),
        )
    };
    for format in ["text", "json"] {
        let webhook = FaultyServer::start(vec![echo(), echo()]).await;
        // A receiver whose URL carries its secret in the path, Slack-style.
        let url = webhook
            .url
            .replace("/v1/followups", "/hooks/Zx81Kq02Lm93Np04Rs");
        let dir = tempfile::tempdir().unwrap();
        let out = Export::new(dir.path())
            .db(&db.url)
            .args([
                "--log-format",
                format,
                "--sink",
                "webhook",
                "--webhook-url",
                &url,
            ])
            .run()
            .await;
        out.assert_success();
        assert!(
            out.stderr.contains("503"),
            "the retries were logged: {}",
            out.stderr
        );
        for secret in ["someone-elses-token-5566", "Zx81Kq02Lm93Np04Rs"] {
            assert!(
                !out.stderr.contains(secret),
                "{secret} ({format}): {}",
                out.stderr
            );
        }
    }
    // A plain gateway URL stays readable in the final error, so operators know which failed.
    let refusing = FaultyServer::start(vec![Fault::status(422)]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = Export::new(dir.path())
        .db(&db.url)
        .args(["--sink", "webhook", "--webhook-url", &refusing.url])
        .run()
        .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains(&refusing.url), "{}", out.stderr);
}

#[tokio::test]
async fn cursor_unlock_removes_a_lease_whose_holder_is_gone_and_keeps_a_live_one() {
    let db = TestDb::new().await;
    db.insert_generated(3, 1, 1, "2026-01-22 04:00:00+00").await;
    let bucket = TestBucket::new().await;
    let dir = tempfile::tempdir().unwrap();
    let lock = "state/guardrail_followups_cursor.json.lock";
    let host = this_host();
    let expires = "2999-01-01T00:00:00.000000Z";
    let unlock = |force: bool| {
        let mut words = vec!["cursor", "unlock"];
        if force {
            words.push("--force");
        }
        with_s3_cursor(Export::subcommand(dir.path(), &words), &bucket)
    };

    // A live process on this host (the test itself): never removed.
    put_lease(&bucket, &host, std::process::id(), expires).await;
    let out = unlock(true).run().await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("still running"), "{}", out.stderr);
    assert!(bucket.get(lock).await.is_some());

    // Another host's unexpired lease: only with --force.
    put_lease(&bucket, "db-runner-7", 4242, expires).await;
    let out = unlock(false).run().await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    unlock(true).run().await.assert_success();
    assert!(bucket.get(lock).await.is_none());

    // A dead process on this host: removed, and the next export runs at once.
    put_lease(&bucket, &host, 4_000_000, expires).await;
    let out = unlock(false).run().await;
    out.assert_success();
    assert!(out.stdout.contains("removed"), "{}", out.stdout);
    let export = with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket)
        .run()
        .await;
    assert_eq!(ndjson_ids(&export.assert_success().stdout).len(), 3);
}

#[tokio::test]
async fn sigterm_with_an_s3_cursor_saves_what_was_acknowledged_and_releases_the_lease() {
    let db = TestDb::new().await;
    db.insert_generated(300, 3, 1, "2026-01-22 04:00:00+00")
        .await;
    let bucket = TestBucket::new().await;
    let server = FaultyServer::start(vec![
        Fault::status(200),
        Fault::Slow(Duration::from_millis(1500)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    // One batch at a time: the script answers requests in the order they arrive, and the
    // receiver's log is compared with the source's order.
    let export = || {
        with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket).args([
            "--sink",
            "webhook",
            "--webhook-url",
            &server.url,
            "--batch-size",
            "100",
            "--webhook-concurrency",
            "1",
        ])
    };
    let out = terminate_mid_run(&export(), &server).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        bucket
            .get("state/guardrail_followups_cursor.json.lock")
            .await
            .is_none(),
        "the lease was released: {stderr}"
    );
    let cursor: Value = serde_json::from_slice(
        &bucket
            .get("state/guardrail_followups_cursor.json")
            .await
            .expect("the cursor was saved"),
    )
    .unwrap();
    let acknowledged = server.acknowledged_ids().len() as u64;
    assert_eq!(cursor["totalRows"], acknowledged, "{stderr}");
    // The next run starts at once and finishes the job exactly.
    export().run().await.assert_success();
    assert_eq!(server.acknowledged_ids(), db.ordered_ids(None).await);
}

/// This process's kernel identity, as a lease records it.
fn this_kernel() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let namespace = std::fs::read_link("/proc/self/ns/pid").unwrap();
    format!("{}/{}", boot.trim(), namespace.display())
}

#[tokio::test]
async fn the_lease_of_a_run_gone_from_this_kernel_is_taken_over_at_once_and_a_live_ones_never() {
    let db = TestDb::new().await;
    db.insert_generated(10, 1, 1, "2026-01-22 04:00:00+00")
        .await;
    let bucket = TestBucket::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (host, kernel) = (this_host(), this_kernel());
    let expires = "2999-01-01T00:15:00.000000Z";
    // A live holder (this test): refused, whatever its lease says.
    put_lease_in(&bucket, &host, std::process::id(), Some(&kernel), expires).await;
    let out = with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket)
        .run()
        .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    // A holder that is gone (a run stopped by a frozen endpoint, killed): taken over at once,
    // not in 15 minutes.
    put_lease_in(&bucket, &host, 4_000_000, Some(&kernel), expires).await;
    let out = with_s3_cursor(Export::new(dir.path()).db(&db.url), &bucket)
        .run()
        .await;
    assert_eq!(ndjson_ids(&out.assert_success().stdout).len(), 10);
    assert!(
        out.stderr
            .contains("of pid 4000000 on this host, which is gone"),
        "{}",
        out.stderr
    );
}

/// `check` takes every flag of `export` and checks each place the run would write: the status,
/// the metrics textfile, Slack. Slack cannot run here: a loopback server answers as Slack does
/// (400 for an empty payload to a webhook that exists, 404 for one that does not).
#[tokio::test]
async fn check_takes_every_export_flag_and_checks_every_destination() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute("CREATE INDEX provider_guardrail_followup_created_at_id_idx ON provider_guardrail_followup (created_at, id)")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();
    let slack = FaultyServer::start(vec![Fault::status(400)]).await;
    let good = Export::subcommand(dir.path(), &["check", "--database-url", &db.url])
        .args([
            "--limit",
            "5",
            "--batch-size",
            "100",
            "--settle-seconds",
            "30",
        ])
        .args(["--status-path", &at("state/status.json")])
        .args(["--metrics-path", &at("state/metrics.prom")])
        .args(["--slack-webhook", &slack.url])
        .run()
        .await;
    assert_eq!(good.code, 0, "{}", good.stdout);
    for line in ["ok       status", "ok       metrics", "ok       slack"] {
        assert!(good.stdout.contains(line), "{line}: {}", good.stdout);
    }
    assert!(!dir.path().join("state").exists(), "check creates nothing");

    let revoked = FaultyServer::start(vec![Fault::status(404)]).await;
    let bad = Export::subcommand(dir.path(), &["check", "--database-url", &db.url])
        .args(["--status-path", &at("a-file/status.json")])
        .args(["--metrics-path", "/proc/guardrail/metrics.prom"])
        .args(["--slack-webhook", &revoked.url])
        .run()
        .await;
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    for (what, problem) in [
        ("status", "is a file, not a folder"),
        ("metrics", "cannot create a file in /proc"),
        ("slack", "answered 404"),
    ] {
        assert!(
            bad.stdout
                .lines()
                .any(|l| l.starts_with(&format!("problem  {what}")) && l.contains(problem)),
            "{what}: {}",
            bad.stdout
        );
    }
}
