//! End to end: PostgreSQL → exporter → webhook → gateway → lake, with crashes on the way.
//! Every source row must reach the lake; deduplicated by followUpId, the lake equals the source.

use std::collections::HashMap;
use std::time::Duration;

use rand::RngExt;
use serde_json::Value;

use crate::helpers::gateway::{GatewayProcess, LakeSummary, local_lake, parse_ndjson, summarise};
use crate::helpers::s3::{TestBucket, lake_bytes, list_keys};
use crate::helpers::{Export, TestDb, seeded_rng};

/// The source as the exporter renders it, keyed by followUpId.
async fn source_rows(db: &TestDb, dir: &std::path::Path) -> HashMap<String, Value> {
    let out = Export::new(dir).db(&db.url).run().await;
    out.assert_success()
        .lines()
        .iter()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            (row["followUpId"].as_str().unwrap().to_owned(), row)
        })
        .collect()
}

fn to_gateway(dir: &std::path::Path, db: &TestDb, gateway: &GatewayProcess, batch: &str) -> Export {
    Export::new(dir).db(&db.url).args([
        "--sink",
        "webhook",
        "--webhook-url",
        &gateway.url(),
        "--webhook-secret",
        "pipeline-secret",
        "--batch-size",
        batch,
        "--cursor-store",
        "file",
        "--quiet",
    ])
}

fn assert_lake_equals_source(lake: &LakeSummary, source: &HashMap<String, Value>) {
    assert_eq!(
        lake.unique.len(),
        source.len(),
        "every source row is in the lake, once deduplicated"
    );
    for (id, row) in source {
        assert_eq!(lake.unique.get(id), Some(row), "follow-up {id}");
    }
}

#[tokio::test]
async fn fifty_thousand_rows_reach_a_local_lake_exactly() {
    let db = TestDb::new().await;
    db.insert_generated(50_000, 40, 9, "2026-01-20 00:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let gateway =
        GatewayProcess::start(lake.to_str().unwrap(), &["--secret", "pipeline-secret"]).await;
    to_gateway(dir.path(), &db, &gateway, "1000")
        .args(["--webhook-gzip"])
        .run()
        .await
        .assert_success();

    let objects = local_lake(&lake);
    assert_eq!(objects.len(), 50, "one object per batch");
    let summary = summarise(&objects);
    assert_eq!(
        summary.rows, 50_000,
        "no batch was written twice under two names"
    );
    assert_lake_equals_source(&summary, &source_rows(&db, dir.path()).await);
}

#[tokio::test]
async fn fifty_thousand_rows_reach_an_s3_lake_exactly() {
    let db = TestDb::new().await;
    db.insert_generated(50_000, 40, 9, "2026-01-20 00:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = TestBucket::new().await;
    let lake = format!("s3://{}/raw", bucket.name);
    let gateway = GatewayProcess::start(
        &lake,
        &[
            "--secret",
            "pipeline-secret",
            "--s3-endpoint",
            &bucket.endpoint,
        ],
    )
    .await;
    // With the archive on S3 too: a copy of several upload parts (8 MiB each).
    to_gateway(dir.path(), &db, &gateway, "1000")
        .args(["--archive-uri", &bucket.uri("exports")])
        .args(["--s3-endpoint", &bucket.endpoint])
        .run()
        .await
        .assert_success();
    let archived = bucket.get("exports/latest.ndjson").await.unwrap();
    assert!(archived.len() > 8 << 20, "{} bytes", archived.len());
    assert!(
        archived == lake_bytes(&bucket, "raw/").await,
        "the archive holds what the lake received, byte for byte"
    );

    let mut objects = Vec::new();
    for key in list_keys(&bucket.name).await {
        if !key.starts_with("raw/") {
            continue;
        }
        let name = key
            .strip_prefix("raw/")
            .expect("objects under the lake's prefix")
            .to_owned();
        objects.push((name, parse_ndjson(&bucket.get(&key).await.unwrap())));
    }
    assert_eq!(objects.len(), 50, "one object per batch");
    let summary = summarise(&objects);
    assert_eq!(
        summary.rows, 50_000,
        "no batch was written twice under two names"
    );
    assert_lake_equals_source(&summary, &source_rows(&db, dir.path()).await);
}

/// The exporter's default `--webhook-concurrency`: a crash resends at most this many batches.
const CONCURRENCY: usize = 4;

/// The cursor file's `cursorId`, if it has one.
fn cursor_id(dir: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(dir.join("guardrail_followups_cursor.json")).ok()?;
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    value["cursorId"].as_str().map(str::to_owned)
}

/// The lake's objects holding only rows after the cursor: delivered, but not covered by the
/// cursor, so the next run sends them again.
fn objects_beyond_the_cursor(
    lake: &std::path::Path,
    order: &HashMap<String, usize>,
    cursor: Option<&str>,
) -> usize {
    let covered = cursor.map_or(0, |id| order[id] + 1);
    local_lake(lake)
        .iter()
        .filter(|(_, rows)| {
            rows.iter()
                .all(|row| order[row["followUpId"].as_str().unwrap()] >= covered)
        })
        .count()
}

#[tokio::test]
async fn an_exporter_killed_at_random_moments_loses_nothing() {
    let (mut rng, seed) = seeded_rng("an_exporter_killed_at_random_moments_loses_nothing");
    let db = TestDb::new().await;
    db.insert_generated(40_000, 25, 4, "2026-01-20 00:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let gateway =
        GatewayProcess::start(lake.to_str().unwrap(), &["--secret", "pipeline-secret"]).await;
    let batch = 200;
    let mut kills = 0;
    let mut more = 0;
    let mut resent = Vec::new();
    for _ in 0..60 {
        if kills == 12 {
            break;
        }
        // Default concurrency: up to four batches in flight when the kill lands.
        let mut child = to_gateway(dir.path(), &db, &gateway, &batch.to_string())
            .command()
            .spawn()
            .unwrap();
        // Real time passing is the point: the kill lands at a random moment of the run.
        let delay = rng.random_range(50..400);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if child.try_wait().unwrap().is_none() {
            child.start_kill().unwrap();
            kills += 1;
            child.wait().await.unwrap();
            // Let the gateway finish the requests that reached it whole.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let order: HashMap<String, usize> = db
                .ordered_ids(None)
                .await
                .into_iter()
                .enumerate()
                .map(|(i, id)| (id, i))
                .collect();
            resent.push(objects_beyond_the_cursor(
                &lake,
                &order,
                cursor_id(dir.path()).as_deref(),
            ));
        } else {
            child.wait().await.unwrap();
            // The backlog ran out before enough kills: more rows, later than the others.
            more += 1;
            db.insert_generated(5_000, 25, 4, &format!("2026-01-2{more} 12:00:00+00"))
                .await;
        }
    }
    assert!(kills >= 10, "{kills} runs were killed mid-export ({seed})");
    eprintln!("batches delivered beyond the cursor at each of {kills} kills: {resent:?}");
    assert!(
        resent.iter().all(|n| *n <= CONCURRENCY),
        "a kill left more than {CONCURRENCY} delivered batches beyond the cursor: {resent:?} ({seed})"
    );
    // Rerun until done.
    to_gateway(dir.path(), &db, &gateway, &batch.to_string())
        .run()
        .await
        .assert_success();

    let summary = summarise(&local_lake(&lake));
    assert!(
        summary.rows - summary.unique.len() <= kills * CONCURRENCY * batch,
        "{} duplicate rows for {kills} kills of batches of {batch} ({seed})",
        summary.rows - summary.unique.len()
    );
    assert_lake_equals_source(&summary, &source_rows(&db, dir.path()).await);
}

/// The idempotency keys of the batches the exporter's log says it sent again.
fn retried_keys(stderr: &str) -> std::collections::BTreeSet<String> {
    stderr
        .lines()
        .filter(|line| line.contains("retrying in"))
        .filter_map(|line| {
            let at = line.find("gf1-")?;
            line.get(at..at + 36).map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_gateway_killed_mid_request_loses_nothing() {
    let (mut rng, seed) = seeded_rng("a_gateway_killed_mid_request_loses_nothing");
    let db = TestDb::new().await;
    db.insert_generated(60_000, 25, 4, "2026-01-20 00:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut gateway =
        GatewayProcess::start(lake.to_str().unwrap(), &["--secret", "pipeline-secret"]).await;
    let batch = 100;
    // Default concurrency: up to four batches in flight when the gateway dies.
    // JSON logs carry each retry's idempotency key.
    let export = to_gateway(dir.path(), &db, &gateway, &batch.to_string()).args([
        "--webhook-max-attempts",
        "10",
        "--log-format",
        "json",
    ]);
    let exporter = export
        .command()
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = exporter.id().unwrap();
    let output = tokio::spawn(exporter.wait_with_output());
    let running = || std::path::Path::new(&format!("/proc/{pid}")).exists();
    let mut kills = 0;
    for _ in 0..6 {
        // Real time passing is the point: the crash lands at a random moment of the run, and
        // the gateway stays down for a while (the exporter retries meanwhile).
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..400))).await;
        if !running() || output.is_finished() {
            break;
        }
        gateway.kill().await;
        kills += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        gateway.restart().await;
    }
    let out = tokio::time::timeout(Duration::from_secs(180), output)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the exporter rode out {kills} gateway crashes ({seed}): {stderr}"
    );
    assert!(
        kills >= 5,
        "the gateway was killed {kills} times while the export ran ({seed})"
    );
    // A batch in flight when the gateway died is sent again; at most the concurrency per crash.
    let retried = retried_keys(&stderr);
    eprintln!(
        "{} batches sent again over {kills} gateway crashes",
        retried.len()
    );
    assert!(!retried.is_empty(), "the crashes cut requests: {stderr}");
    assert!(
        retried.len() <= kills * CONCURRENCY,
        "{} batches sent again for {kills} crashes ({seed})",
        retried.len()
    );

    let summary = summarise(&local_lake(&lake));
    assert!(
        summary.rows - summary.unique.len() <= kills * CONCURRENCY * batch,
        "{} duplicate rows for {kills} crashes with batches of {batch} ({seed})",
        summary.rows - summary.unique.len()
    );
    assert_lake_equals_source(&summary, &source_rows(&db, dir.path()).await);
}

#[tokio::test]
async fn rows_with_blank_provider_and_action_reach_the_lake() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at) VALUES
               ('00000000-0000-4000-8000-000000000001', '  ', 'pause', '2026-01-20 00:00:01+00'),
               ('00000000-0000-4000-8000-000000000002', 'provider-1', '   ', '2026-01-20 00:00:02+00'),
               ('00000000-0000-4000-8000-000000000003', '', '', '2026-01-20 00:00:03+00')",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let gateway =
        GatewayProcess::start(lake.to_str().unwrap(), &["--secret", "pipeline-secret"]).await;
    to_gateway(dir.path(), &db, &gateway, "10")
        .run()
        .await
        .assert_success();
    let objects = local_lake(&lake);
    // Lake objects are for the loader: readable as the gateway's umask allows (0644 by default).
    for (name, _) in &objects {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(lake.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(
            mode & 0o444,
            0o444 & !crate::helpers::umask(),
            "{name}: {mode:o}"
        );
    }
    let summary = summarise(&objects);
    assert_eq!(summary.rows, 3);
    assert_lake_equals_source(&summary, &source_rows(&db, dir.path()).await);
    let provider = |id: &str| summary.unique[id]["providerId"].clone();
    assert_eq!(provider("00000000-0000-4000-8000-000000000001"), "  ");
    assert_eq!(
        summary.unique["00000000-0000-4000-8000-000000000002"]["action"],
        ""
    );
}

/// The `followUpId`s of every dated copy under the archive folder `archive/runs/`.
fn archived_ids(archive: &std::path::Path) -> std::collections::HashSet<String> {
    fn walk(dir: &std::path::Path, ids: &mut std::collections::HashSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, ids);
            } else {
                for row in parse_ndjson(&std::fs::read(&path).unwrap()) {
                    ids.insert(row["followUpId"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    let mut ids = std::collections::HashSet::new();
    walk(&archive.join("runs"), &mut ids);
    ids
}

#[tokio::test]
async fn fifteen_exports_killed_at_random_moments_then_a_clean_run_leave_every_acknowledged_row_in_the_archive()
 {
    let (mut rng, seed) = seeded_rng("fifteen_exports_killed_then_the_archive");
    let db = TestDb::new().await;
    db.insert_generated(40_000, 25, 4, "2026-01-20 00:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    let gateway =
        GatewayProcess::start(lake.to_str().unwrap(), &["--secret", "pipeline-secret"]).await;
    let export = || {
        to_gateway(dir.path(), &db, &gateway, "200")
            .args(["--archive-uri", archive.to_str().unwrap()])
    };
    let mut kills = 0;
    let mut more = 0;
    while kills < 15 {
        let mut child = export().command().spawn().unwrap();
        // Real time passing is the point: the kill lands at a random moment of the run.
        let delay = rng.random_range(50..400);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if child.try_wait().unwrap().is_none() {
            child.start_kill().unwrap();
            kills += 1;
        } else {
            more += 1;
            db.insert_generated(5_000, 25, 4, &format!("2026-02-{:02} 12:00:00+00", more))
                .await;
        }
        child.wait().await.unwrap();
    }
    export().run().await.assert_success();

    // Every row the gateway acknowledged (the lake) is in some dated copy.
    let archived = archived_ids(&archive);
    let acknowledged: std::collections::HashSet<String> = local_lake(&lake)
        .iter()
        .flat_map(|(_, rows)| rows.iter())
        .map(|row| row["followUpId"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<&String> = acknowledged.difference(&archived).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged rows are in no dated copy after {kills} kills, e.g. {missing:?} ({seed})",
        acknowledged.difference(&archived).count()
    );
    assert_eq!(acknowledged.len(), 40_000 + 5_000 * more, "({seed})");
    assert!(
        !archive.join(".spool").exists(),
        "the spools of the killed runs were published and removed ({seed})"
    );
}
