//! The Prometheus textfile (`--metrics-path`) after successful, failed and interrupted runs.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_parse::{Scrape, Value};

use crate::helpers::faulty::{Fault, FaultyServer, terminate_mid_run};
use crate::helpers::server::ClosedPort;
use crate::helpers::{Export, TestDb, ndjson_ids};

const SERIES: [&str; 10] = [
    "guardrail_export_last_run_timestamp_seconds",
    "guardrail_export_last_run_duration_seconds",
    "guardrail_export_last_run_success",
    "guardrail_export_last_run_outcome",
    "guardrail_export_last_run_rows",
    "guardrail_export_last_run_late_rows",
    "guardrail_export_last_success_timestamp_seconds",
    "guardrail_export_pending_rows",
    "guardrail_export_held_back_rows",
    "guardrail_export_oldest_pending_timestamp_seconds",
];

/// The textfile parsed: each sample by its series name and its `outcome` label (if any).
fn read_metrics(path: &Path) -> HashMap<(String, Option<String>), f64> {
    let text = std::fs::read_to_string(path).expect("the metrics file was written");
    // Every line is a comment or `name[{labels}] value`, as the exposition format wants.
    let sample =
        regex::Regex::new(r#"^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? \S+$"#).unwrap();
    for line in text.lines() {
        assert!(
            line.starts_with("# HELP ") || line.starts_with("# TYPE ") || sample.is_match(line),
            "not an exposition line: {line:?}\n{text}"
        );
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let mut samples = HashMap::new();
    for s in scrape.samples {
        assert!(
            SERIES.contains(&s.metric.as_str()),
            "undocumented series {}",
            s.metric
        );
        assert!(
            scrape.docs.contains_key(&s.metric),
            "no HELP for {}",
            s.metric
        );
        let Value::Gauge(value) = s.value else {
            panic!("{} is not a gauge: {:?}", s.metric, s.value);
        };
        let key = (s.metric.clone(), s.labels.get("outcome").map(str::to_owned));
        assert!(samples.insert(key, value).is_none(), "{} twice", s.metric);
    }
    samples
}

fn get(samples: &HashMap<(String, Option<String>), f64>, name: &str) -> Option<f64> {
    samples.get(&(name.to_owned(), None)).copied()
}

fn outcome(samples: &HashMap<(String, Option<String>), f64>, outcome: &str) -> f64 {
    samples[&(
        "guardrail_export_last_run_outcome".to_owned(),
        Some(outcome.to_owned()),
    )]
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn a_failed_run_rewrites_the_metrics_and_keeps_the_last_success() {
    let db = TestDb::new().await;
    db.insert_generated(100, 2, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("textfile/guardrail_export.prom");
    let export = || {
        Export::new(dir.path()).db(&db.url).args([
            "--cursor-store",
            "file",
            "--metrics-path",
            metrics.to_str().unwrap(),
        ])
    };

    let before = now();
    let out = export().args(["--limit", "70"]).run().await;
    let rows = ndjson_ids(&out.assert_success().stdout).len();
    let after = now();
    assert_eq!(rows, 70);
    let ok = read_metrics(&metrics);
    let ran_at = get(&ok, "guardrail_export_last_run_timestamp_seconds").unwrap();
    assert!(before - 1.0 <= ran_at && ran_at <= after + 1.0, "{ran_at}");
    let duration = get(&ok, "guardrail_export_last_run_duration_seconds").unwrap();
    assert!(
        (0.0..=after - before + 1.0).contains(&duration),
        "{duration}"
    );
    assert_eq!(get(&ok, "guardrail_export_last_run_success"), Some(1.0));
    assert_eq!(outcome(&ok, "success"), 1.0);
    assert_eq!(outcome(&ok, "failed"), 0.0);
    assert_eq!(outcome(&ok, "interrupted"), 0.0);
    assert_eq!(get(&ok, "guardrail_export_last_run_rows"), Some(70.0));
    assert_eq!(get(&ok, "guardrail_export_last_run_late_rows"), Some(0.0));
    assert_eq!(
        get(&ok, "guardrail_export_pending_rows"),
        Some(30.0),
        "the rows beyond --limit"
    );
    assert_eq!(get(&ok, "guardrail_export_held_back_rows"), Some(0.0));
    let oldest = get(&ok, "guardrail_export_oldest_pending_timestamp_seconds").unwrap();
    let first_left = db.ordered_ids(None).await[70].clone();
    let created: f64 = db
        .client()
        .await
        .query_one(
            "SELECT extract(epoch FROM created_at)::float8 FROM provider_guardrail_followup WHERE id::text = $1",
            &[&first_left],
        )
        .await
        .unwrap()
        .get(0);
    assert!((oldest - created).abs() < 1e-5, "{oldest} != {created}");
    assert_eq!(
        get(&ok, "guardrail_export_last_success_timestamp_seconds"),
        Some(ran_at)
    );
    // Replaced atomically, for others to read: nothing left beside it, mode as the umask says.
    let names: Vec<_> = std::fs::read_dir(metrics.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["guardrail_export.prom"]);
    let mode = std::fs::metadata(&metrics).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !crate::helpers::umask(), "{mode:o}");

    // The webhook cannot be reached: the run fails, and so do its metrics.
    let closed = ClosedPort::new();
    let url = format!("http://127.0.0.1:{}/ingest", closed.port);
    let out = export()
        .args(["--sink", "webhook", "--webhook-url", &url])
        .args(["--webhook-max-attempts", "1"])
        .run()
        .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let failed = read_metrics(&metrics);
    assert_eq!(get(&failed, "guardrail_export_last_run_success"), Some(0.0));
    assert_eq!(outcome(&failed, "success"), 0.0);
    assert_eq!(outcome(&failed, "failed"), 1.0);
    assert_eq!(outcome(&failed, "interrupted"), 0.0);
    assert!(get(&failed, "guardrail_export_last_run_timestamp_seconds").unwrap() >= ran_at);
    assert_eq!(
        get(&failed, "guardrail_export_last_success_timestamp_seconds"),
        Some(ran_at),
        "kept from the successful run"
    );
    assert_eq!(get(&failed, "guardrail_export_last_run_rows"), None);
    assert_eq!(get(&failed, "guardrail_export_pending_rows"), None);
    let names = std::fs::read_dir(metrics.parent().unwrap())
        .unwrap()
        .count();
    assert_eq!(names, 1, "no temporary file left beside the metrics");
}

#[tokio::test]
async fn an_interrupted_run_says_so_and_an_unwritable_metrics_path_is_only_a_warning() {
    let db = TestDb::new().await;
    db.insert_generated(300, 3, 1, "2026-01-22 04:00:00+00")
        .await;
    let server = FaultyServer::start(vec![
        Fault::status(200),
        Fault::Slow(Duration::from_millis(1500)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("guardrail_export.prom");
    let export = Export::new(dir.path()).db(&db.url).args([
        "--sink",
        "webhook",
        "--webhook-url",
        &server.url,
        "--batch-size",
        "100",
        "--webhook-concurrency",
        "1",
        "--metrics-path",
        metrics.to_str().unwrap(),
    ]);
    let out = terminate_mid_run(&export, &server).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    let interrupted = read_metrics(&metrics);
    assert_eq!(
        get(&interrupted, "guardrail_export_last_run_success"),
        Some(0.0)
    );
    assert_eq!(outcome(&interrupted, "interrupted"), 1.0);
    assert_eq!(outcome(&interrupted, "failed"), 0.0);
    assert_eq!(
        get(
            &interrupted,
            "guardrail_export_last_success_timestamp_seconds"
        ),
        None,
        "no run has succeeded yet"
    );

    // A folder where the file should be: the export still succeeds, with a warning.
    let out = Export::new(dir.path())
        .db(&db.url)
        .args(["--metrics-path", dir.path().to_str().unwrap()])
        .run()
        .await;
    out.assert_success();
    assert!(out.stderr.contains("metrics not written"), "{}", out.stderr);
}
