//! `--archive-uri`: each run's delivered rows kept as `latest.ndjson` and a dated copy, in a
//! folder or under an `s3://` prefix, and offered by the ops page as "Download latest NDJSON".

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::admin_server::{AdminProcess, PASSWORD, client, get_download, sign_in};
use crate::helpers::browser::Browser;
use crate::helpers::gateway::GatewayProcess;
use crate::helpers::s3::{TestBucket, lake_bytes, list_keys};
use crate::helpers::{Export, TestDb, ndjson_ids};

const SECRET: &str = "archive-test-secret";

/// The keys under `exports/`.
async fn archive_keys(bucket: &TestBucket) -> Vec<String> {
    list_keys(&bucket.name)
        .await
        .into_iter()
        .filter(|k| k.starts_with("exports/"))
        .collect()
}

/// "Download latest NDJSON", fetched from the running page.
async fn download(admin: &AdminProcess) -> Vec<u8> {
    let http = client();
    let cookie = sign_in(&http, &admin.base).await;
    let response = get_download(&http, &admin.base, &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn the_hourly_path_on_s3_archives_what_the_gateway_received_and_a_quiet_hour_keeps_it() {
    let db = TestDb::new().await;
    db.insert_generated(30, 3, 2, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = TestBucket::new().await;
    let gateway = GatewayProcess::start(
        &bucket.uri("lake"),
        &["--secret", SECRET, "--s3-endpoint", &bucket.endpoint],
    )
    .await;
    let status_uri = bucket.uri("state/status.json");
    let export = || {
        Export::new(dir.path()).db(&db.url).args([
            "--sink",
            "webhook",
            "--webhook-url",
            &gateway.url(),
            "--webhook-secret",
            SECRET,
            "--batch-size",
            "7",
            "--cursor-store",
            "s3",
            "--cursor-store-uri",
            &bucket.uri("state/cursor.json"),
            "--archive-uri",
            &bucket.uri("exports"),
            "--status-path",
            &status_uri,
            "--s3-endpoint",
            &bucket.endpoint,
        ])
    };

    let out = export().run().await;
    out.assert_success();
    assert!(
        out.stderr.contains("archived 30 rows at s3://"),
        "{}",
        out.stderr
    );
    let received = lake_bytes(&bucket, "lake/").await;
    assert_eq!(received.iter().filter(|b| **b == b'\n').count(), 30);
    let keys = archive_keys(&bucket).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], "exports/latest.ndjson");
    assert!(
        keys[1].starts_with("exports/runs/") && keys[1].ends_with("Z.ndjson"),
        "{keys:?}"
    );
    assert_eq!(bucket.get(&keys[1]).await.unwrap(), received);
    let status: Value =
        serde_json::from_slice(&bucket.get("state/status.json").await.unwrap()).unwrap();
    assert_eq!(status["outcome"], "success");
    assert_eq!(status["downloadUrl"], bucket.uri("exports/latest.ndjson"));

    // The page, given only s3:// URLs and its credentials from the environment.
    let admin = AdminProcess::start(
        &["--status-cache-seconds", "0"],
        &[
            ("GUARDRAIL_EXPORT_STATUS_URL", &status_uri),
            ("GUARDRAIL_ADMIN_S3_ENDPOINT", &bucket.endpoint),
            ("GUARDRAIL_ADMIN_PASSWORD", PASSWORD),
        ],
    )
    .await;
    let browser = Browser::start().await;
    browser.sign_in(&admin.base, PASSWORD).await;
    assert_eq!(browser.text("#health").await, "Healthy");
    assert_eq!(browser.text("#fact-rows .value").await, "30");
    assert!(browser.is_present("#download").await);
    browser.close().await;
    assert_eq!(download(&admin).await, received, "exactly the run's rows");

    // A quiet hour: nothing new, the archive and its latest copy stay as they were.
    let out = export().run().await;
    out.assert_success();
    let status: Value =
        serde_json::from_slice(&bucket.get("state/status.json").await.unwrap()).unwrap();
    assert_eq!(
        (status["outcome"].as_str(), status["rows"].as_u64()),
        (Some("success"), Some(0))
    );
    assert_eq!(archive_keys(&bucket).await, keys, "no empty copy");
    assert_eq!(
        download(&admin).await,
        received,
        "still the previous run's rows"
    );

    // The next hour with new rows: the download is those rows, and only those.
    db.insert_generated(12, 3, 1, "2026-01-22 06:00:00+00")
        .await;
    export().run().await.assert_success();
    let all = lake_bytes(&bucket, "lake/").await;
    assert!(all.starts_with(&received));
    let next = &all[received.len()..];
    assert_eq!(next.iter().filter(|b| **b == b'\n').count(), 12);
    assert_eq!(download(&admin).await, next, "exactly the last run's rows");
    assert_eq!(archive_keys(&bucket).await.len(), 3, "a second dated copy");

    // `check` tries the bucket (no database given: that line is a problem, this one is not).
    let check = |uri: String| {
        let endpoint = bucket.endpoint.clone();
        let dir = dir.path().to_owned();
        async move {
            Export::subcommand(&dir, &["check"])
                .args(["--archive-uri", &uri, "--s3-endpoint", &endpoint])
                .run()
                .await
                .stdout
        }
    };
    // (moto's secret key is `test`, which the scrubber masks wherever it appears.)
    let ok = check(bucket.uri("exports")).await;
    assert!(
        ok.lines()
            .any(|line| line.starts_with("ok       archive       s3://")
                && line.contains("/exports: writable; ")
                && line.ends_with(".ndjson holds the last run that delivered rows")),
        "{ok}"
    );
    let missing = check("s3://gf-no-such-bucket/exports".into()).await;
    assert!(
        missing.contains(
            "problem  archive       s3://gf-no-such-bucket/exports: cannot write an object there"
        ),
        "{missing}"
    );
}

/// `export` with a file sink, a cursor file, the status and the archive in `dir`.
fn to_file(dir: &Path, db: &TestDb) -> Export {
    Export::new(dir).db(&db.url).args([
        "--sink",
        "file",
        "--file-path",
        "out.ndjson",
        "--cursor-store",
        "file",
        "--status-path",
        "status.json",
        "--archive-uri",
        "archive",
    ])
}

/// The dated copies under `archive/runs/`, oldest first.
fn dated_copies(archive: &Path) -> Vec<std::path::PathBuf> {
    let mut copies = Vec::new();
    let mut pending = vec![archive.join("runs")];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                copies.push(path);
            }
        }
    }
    copies.sort();
    copies
}

#[tokio::test]
async fn a_folder_archive_keeps_latest_and_a_dated_copy_per_run_and_a_quiet_hour_keeps_latest() {
    let db = TestDb::new().await;
    db.insert_generated(10, 2, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    let latest = archive.join("latest.ndjson");

    to_file(dir.path(), &db)
        .args(["--limit", "6"])
        .run()
        .await
        .assert_success();
    let first = std::fs::read(dir.path().join("out.ndjson")).unwrap();
    assert_eq!(ndjson_ids(std::str::from_utf8(&first).unwrap()).len(), 6);
    assert_eq!(std::fs::read(&latest).unwrap(), first, "the sink's bytes");
    let copies = dated_copies(&archive);
    assert_eq!(copies.len(), 1);
    assert_eq!(std::fs::read(&copies[0]).unwrap(), first);
    let status: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("status.json")).unwrap()).unwrap();
    assert_eq!(
        status["downloadUrl"],
        latest.display().to_string(),
        "an absolute path"
    );
    // The copy is named by the run's start, as the status has it.
    let started = status["startedAt"]
        .as_str()
        .unwrap()
        .replace(['-', ':'], "");
    assert!(
        copies[0].ends_with(format!(
            "{}/{}.ndjson",
            &status["startedAt"].as_str().unwrap()[..10].replace('-', "/"),
            started
        )),
        "{copies:?} for {started}"
    );

    to_file(dir.path(), &db).run().await.assert_success();
    let second = std::fs::read(dir.path().join("out.ndjson")).unwrap();
    assert_eq!(ndjson_ids(std::str::from_utf8(&second).unwrap()).len(), 4);
    assert_eq!(std::fs::read(&latest).unwrap(), second);
    let copies = dated_copies(&archive);
    assert_eq!(copies.len(), 2);
    assert_eq!(std::fs::read(&copies[0]).unwrap(), first);
    assert_eq!(std::fs::read(&copies[1]).unwrap(), second);

    // A quiet hour empties the sink's file, but not the archive.
    let out = to_file(dir.path(), &db).run().await;
    out.assert_success();
    assert!(
        std::fs::read(dir.path().join("out.ndjson"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(std::fs::read(&latest).unwrap(), second);
    assert_eq!(dated_copies(&archive).len(), 2);
    let names: Vec<_> = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");

    let check = Export::subcommand(dir.path(), &["check", "--archive-uri", "archive"])
        .db(&db.url)
        .run()
        .await;
    assert!(
        check
            .stdout
            .contains("ok       archive       archive: writable; "),
        "{}",
        check.stdout
    );
}

#[tokio::test]
async fn a_missing_archive_folder_is_refused_before_anything_is_delivered() {
    let db = TestDb::new().await;
    db.insert_generated(5, 1, 1, "2026-01-22 04:00:00+00").await;
    let dir = tempfile::tempdir().unwrap();
    let out = to_file(dir.path(), &db).run().await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "the --archive-uri folder archive does not exist. Fix: create it, or point \
             --archive-uri (GUARDRAIL_EXPORT_ARCHIVE_URI) at an existing folder"
        ),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("guardrail_followups_cursor.json").exists());
    assert!(!dir.path().join("out.ndjson").exists());

    let check = Export::subcommand(dir.path(), &["check", "--archive-uri", "archive"])
        .db(&db.url)
        .run()
        .await;
    assert_eq!(check.code, 1);
    assert!(
        check
            .stdout
            .contains("problem  archive       archive: the folder does not exist"),
        "{}",
        check.stdout
    );
    let bad = Export::new(dir.path())
        .db(&db.url)
        .args(["--archive-uri", "gs://bucket/prefix"])
        .run()
        .await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("--archive-uri (GUARDRAIL_EXPORT_ARCHIVE_URI): `gs://` is not supported; give a folder path, file:///absolute/path or s3://bucket/prefix"),
        "{}",
        bad.stderr
    );
}

#[tokio::test]
async fn rows_delivered_but_not_archived_fail_the_run_and_keep_the_cursor() {
    let db = TestDb::new().await;
    db.insert_generated(5, 1, 1, "2026-01-22 04:00:00+00").await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    // `runs` is a file: no dated copy can be made (root ignores permission bits).
    std::fs::write(archive.join("runs"), "in the way").unwrap();
    let out = Export::new(dir.path())
        .db(&db.url)
        .args(["--cursor-store", "file", "--status-path", "status.json"])
        .args(["--archive-uri", "archive"])
        .run()
        .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let ids = ndjson_ids(&out.stdout);
    assert_eq!(ids.len(), 5, "delivered all the same");
    assert!(
        out.stderr
            .contains("the export delivered 5 rows and saved its cursor (now ")
            && out
                .stderr
                .contains("but they were not archived: cannot create the folder"),
        "{}",
        out.stderr
    );
    let cursor: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("guardrail_followups_cursor.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        cursor["cursorId"],
        ids[4].as_str(),
        "the cursor keeps the delivery"
    );
    let status: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("status.json")).unwrap()).unwrap();
    assert_eq!(status["outcome"], "failed");
    assert_eq!(status["rows"], 5);
    assert_eq!(status["cursorId"], ids[4].as_str());
    assert_eq!(status["lastSuccessAt"], Value::Null);
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("were not archived"),
        "{status}"
    );
    assert!(!archive.join("latest.ndjson").exists());
}
