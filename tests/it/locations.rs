//! One grammar for every place a flag or variable names (`location.rs`): a path, `file:///path`
//! and `s3://bucket/key` mean the same for `--status-path`, `--archive-uri`, `--metrics-path`,
//! the gateway's and `reconcile`'s `--lake` and the ops page's `GUARDRAIL_EXPORT_STATUS_URL`;
//! what a place cannot take is refused with exit 2, naming the flag.

use std::path::Path;

use reqwest::StatusCode;

use crate::helpers::admin_server::{
    AdminProcess, PASSWORD, client, get_download, reports_page, sign_in,
};
use crate::helpers::gateway::GatewayProcess;
use crate::helpers::s3::TestBucket;
use crate::helpers::{Export, TestDb};

const SECRET: &str = "locations-secret";

/// The three ways to name `dir/name`: a relative path is not used, since the ops page and the
/// exporter would not share a working directory in production either.
fn forms(dir: &Path, name: &str) -> [(&'static str, String); 2] {
    let path = dir.join(name).display().to_string();
    [
        ("path", path.clone()),
        ("file URL", format!("file://{path}")),
    ]
}

/// The card's text, as a signed-in client reads it.
async fn card(admin: &AdminProcess) -> String {
    let http = client();
    let cookie = sign_in(&http, &admin.base).await;
    reports_page(&http, &admin.base, &cookie).await
}

#[tokio::test]
async fn a_path_and_a_file_url_name_the_same_place_for_every_flag() {
    let db = TestDb::new().await;
    db.insert_generated(30, 3, 2, "2026-01-22 04:00:00+00")
        .await;
    for form in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("archive")).unwrap();
        std::fs::create_dir(root.join("lake")).unwrap();
        let at = |name: &str| forms(root, name)[form].1.clone();
        let label = forms(root, "x")[form].0;

        let gateway = GatewayProcess::start(&at("lake"), &["--secret", SECRET]).await;
        Export::new(root)
            .db(&db.url)
            .args(["--sink", "webhook", "--webhook-url", &gateway.url()])
            .args(["--webhook-secret", SECRET, "--quiet"])
            .args(["--status-path", &at("state.json")])
            .args(["--archive-uri", &at("archive")])
            .args(["--metrics-path", &at("metrics.prom")])
            .run()
            .await
            .assert_success();
        for written in ["state.json", "archive/latest.ndjson", "metrics.prom"] {
            assert!(root.join(written).is_file(), "{label}: {written}");
        }
        let lake_files = walkdir::WalkDir::new(root.join("lake"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .count();
        assert!(lake_files > 0, "{label}: the gateway wrote into the lake");
        let status: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("state.json")).unwrap()).unwrap();
        assert_eq!(
            status["downloadUrl"].as_str(),
            Some(root.join("archive/latest.ndjson").to_str().unwrap()),
            "{label}: the download is the archive's latest copy, as an absolute path"
        );

        // reconcile reads the lake at the same URI: every row is there.
        let reconcile = Export::subcommand(root, &["reconcile"])
            .db(&db.url)
            .args(["--lake", &at("lake")])
            .run()
            .await;
        assert_eq!(reconcile.code, 0, "{label}: {}", reconcile.stderr);

        // The ops page reads the status at the same URI.
        let admin = AdminProcess::start(
            &["--status-cache-seconds", "0"],
            &[
                ("GUARDRAIL_EXPORT_STATUS_URL", &at("state.json")),
                ("GUARDRAIL_ADMIN_PASSWORD", PASSWORD),
            ],
        )
        .await;
        let html = card(&admin).await;
        assert!(html.contains(">Healthy<"), "{label}: {html}");
        assert!(html.contains(">30<"), "{label}: 30 rows");
    }
}

#[tokio::test]
async fn an_s3_uri_names_an_object_or_prefix_wherever_s3_can_hold_one() {
    let db = TestDb::new().await;
    db.insert_generated(10, 2, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = TestBucket::new().await;
    let gateway = GatewayProcess::start(
        &bucket.uri("lake"),
        &["--secret", SECRET, "--s3-endpoint", &bucket.endpoint],
    )
    .await;
    Export::new(dir.path())
        .db(&db.url)
        .args(["--sink", "webhook", "--webhook-url", &gateway.url()])
        .args(["--webhook-secret", SECRET, "--quiet"])
        .args(["--status-path", &bucket.uri("state/status.json")])
        .args(["--archive-uri", &bucket.uri("exports")])
        .args(["--s3-endpoint", &bucket.endpoint])
        .run()
        .await
        .assert_success();
    assert!(bucket.get("state/status.json").await.is_some());
    assert!(bucket.get("exports/latest.ndjson").await.is_some());
    let reconcile = Export::subcommand(dir.path(), &["reconcile"])
        .db(&db.url)
        .args([
            "--lake",
            &bucket.uri("lake"),
            "--s3-endpoint",
            &bucket.endpoint,
        ])
        .run()
        .await;
    assert_eq!(reconcile.code, 0, "{}", reconcile.stderr);
    let admin = AdminProcess::start(
        &["--status-cache-seconds", "0"],
        &[
            (
                "GUARDRAIL_EXPORT_STATUS_URL",
                &bucket.uri("state/status.json"),
            ),
            ("GUARDRAIL_ADMIN_S3_ENDPOINT", &bucket.endpoint),
            ("GUARDRAIL_ADMIN_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert!(card(&admin).await.contains(">Healthy<"));
    let http = client();
    let cookie = sign_in(&http, &admin.base).await;
    let download = get_download(&http, &admin.base, &cookie).await;
    assert_eq!(download.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_place_that_cannot_take_a_form_refuses_it_with_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (args, message) in [
        (
            vec!["--metrics-path", "s3://bucket/metrics.prom"],
            "--metrics-path: `s3://bucket/metrics.prom` is in S3, but this must be on this machine",
        ),
        (
            vec!["--status-path", "https://example.com/status.json"],
            "--status-path: `https://example.com/status.json` is a web address",
        ),
        (
            vec!["--status-path", "s3://bucket"],
            "--status-path: `s3://bucket` names no object",
        ),
        (
            vec!["--status-path", "file://host/status.json"],
            "--status-path: `file://host/status.json` is not a file:///absolute/path URL",
        ),
        (
            vec!["--archive-uri", "gs://bucket/prefix"],
            "--archive-uri (GUARDRAIL_EXPORT_ARCHIVE_URI): `gs://` is not supported",
        ),
        (
            vec!["--download-url", "ftp://host/latest.ndjson"],
            "--download-url: `ftp://` is not supported",
        ),
    ] {
        let out = Export::new(root)
            .args(["--demo", "--sink", "stdout"])
            .args(&args)
            .run()
            .await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: nothing was exported");
    }
    for command in [&["gateway"][..], &["reconcile", "--demo"][..]] {
        let out = Export::subcommand(root, command)
            .args(["--lake", "https://example.com/lake"])
            .run()
            .await;
        assert_eq!(out.code, 2, "{command:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(
                "--lake `https://example.com/lake`: `https://example.com/lake` is a web address"
            ),
            "{command:?}: {}",
            out.stderr
        );
    }
}
