//! The download proxy: what it sends, when it refuses, and that it streams.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt;
use guardrail_followups::admin::router;
use ring::digest::{Context, SHA256};

use super::{NDJSON, admin_process, file_host, unescape};
use crate::helpers::admin_server::{
    client, config, get_download, minutes_ago, sign_in, spawn_router, state, status_file,
    status_json,
};

#[tokio::test]
async fn the_download_is_ndjson_named_after_the_cursor_and_nothing_in_the_request_moves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (host, hits) = file_host().await;
    let (decoy, decoy_hits) = file_host().await;
    let download = format!("{host}/exports/latest.ndjson");
    let status = status_file(dir.path(), &status_json(&minutes_ago(5), Some(&download)));
    let base = spawn_router(router(state(config(Some(status), None)))).await;
    let http = client();
    let cookie = sign_in(&http, &base).await;

    let decoy_url = format!("{decoy}/exports/latest.ndjson");
    let response = http
        .get(format!(
            "{base}/api/reporting/guardrail-followups/export?url={decoy_url}&downloadUrl={decoy_url}"
        ))
        .header("cookie", &cookie)
        .header("x-forwarded-host", decoy.trim_start_matches("http://"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"guardrail-followups-20260122T040000Z.ndjson\""
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(response.text().await.unwrap(), NDJSON);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(decoy_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_download_answers_503_without_a_file_and_502_when_the_upstream_fails() {
    let upstream = Router::new()
        .route(
            "/missing.ndjson",
            get(|| async { (StatusCode::NOT_FOUND, "NoSuchKey") }),
        )
        .route(
            "/elsewhere.ndjson",
            get(|| async { Redirect::temporary("http://localhost:9/latest.ndjson") }),
        )
        .route(
            "/moved.ndjson",
            get(|| async { Redirect::temporary("/real.ndjson") }),
        )
        .route("/real.ndjson", get(|| async { NDJSON }));
    let host = spawn_router(upstream).await;
    let refusing = crate::helpers::server::ClosedPort::new();
    let closed = format!("http://127.0.0.1:{}/x.ndjson", refusing.port);
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            status_json("2026-01-22T04:05:09Z", None),
            StatusCode::SERVICE_UNAVAILABLE,
            "The last export published no file",
        ),
        (
            r#"{"rows": 1}"#.into(),
            StatusCode::SERVICE_UNAVAILABLE,
            "The export status has no downloadUrl.",
        ),
        (
            r#"{"downloadUrl": "file:///etc/passwd"}"#.into(),
            StatusCode::SERVICE_UNAVAILABLE,
            "the file /etc/passwd on the exporter's machine; this page serves such a file only from the exporter's archive folder",
        ),
        (
            "garbage".into(),
            StatusCode::SERVICE_UNAVAILABLE,
            "The export status could not be read",
        ),
        (
            status_json(
                "2026-01-22T04:05:09Z",
                Some(&format!("{host}/missing.ndjson")),
            ),
            StatusCode::BAD_GATEWAY,
            "its server answered 404 Not Found",
        ),
        (
            status_json("2026-01-22T04:05:09Z", Some(&closed)),
            StatusCode::BAD_GATEWAY,
            "The export file could not be fetched",
        ),
        (
            status_json(
                "2026-01-22T04:05:09Z",
                Some(&format!("{host}/elsewhere.ndjson")),
            ),
            StatusCode::BAD_GATEWAY,
            "to another origin (http://localhost:9)",
        ),
        (
            status_json(
                "2026-01-22T04:05:09Z",
                Some(&format!("{host}/moved.ndjson")),
            ),
            StatusCode::OK,
            NDJSON,
        ),
    ];
    for (document, expected, text) in cases {
        let dir = tempfile::tempdir().unwrap();
        let status = status_file(dir.path(), &document);
        let base = spawn_router(router(state(config(Some(status), None)))).await;
        let http = client();
        let cookie = sign_in(&http, &base).await;
        let response = http
            .get(format!("{base}/api/reporting/guardrail-followups/export"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{document}");
        let body = unescape(&response.text().await.unwrap());
        assert!(
            body.contains(text),
            "{document}: expected {text:?} in {body}"
        );
    }
}

/// Size of the streamed file: 500 MiB.
const BIG: u64 = 500 * 1024 * 1024;

/// Serves `BIG` bytes of NDJSON generated on the fly (nothing is stored), and the SHA-256 of
/// what it sent once it is done.
async fn generated_upstream() -> (String, Arc<Mutex<Option<Vec<u8>>>>) {
    let sent_hash = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&sent_hash);
    let handler = move || {
        let slot = Arc::clone(&slot);
        async move {
            let state = (0u64, 0u64, Context::new(&SHA256));
            let chunks = futures_util::stream::unfold(state, move |(sent, line, mut hash)| {
                let slot = Arc::clone(&slot);
                async move {
                    if sent >= BIG {
                        return None;
                    }
                    let mut chunk = Vec::with_capacity(256 * 1024);
                    let mut n = line;
                    while chunk.len() < 256 * 1024 - 256 {
                        chunk.extend_from_slice(
                            format!(
                                "{{\"followUpId\":\"00000000-0000-4000-8000-{n:012}\",\
                                 \"providerId\":\"provider-{}\",\"action\":\"pause\",\
                                 \"createdAt\":\"2026-01-22T04:00:00.{:06}Z\"}}\n",
                                n % 997,
                                n % 1_000_000
                            )
                            .as_bytes(),
                        );
                        n += 1;
                    }
                    chunk.truncate((BIG - sent).min(chunk.len() as u64) as usize);
                    hash.update(&chunk);
                    let len = chunk.len() as u64;
                    if sent + len == BIG {
                        // The client stops reading at Content-Length: record the hash now.
                        *slot.lock().unwrap() = Some(hash.clone().finish().as_ref().to_vec());
                    }
                    Some((
                        Ok::<_, std::io::Error>(Bytes::from(chunk)),
                        (sent + len, n, hash),
                    ))
                }
            });
            (
                [("content-length", BIG.to_string())],
                Body::from_stream(chunks),
            )
                .into_response()
        }
    };
    let base = spawn_router(Router::new().route("/big.ndjson", get(handler))).await;
    (format!("{base}/big.ndjson"), sent_hash)
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_proxy_streams_500_mb_byte_identical_while_the_server_stays_under_50_mb() {
    let dir = tempfile::tempdir().unwrap();
    let (url, sent_hash) = generated_upstream().await;
    status_file(dir.path(), &status_json(&minutes_ago(5), Some(&url)));
    let admin = admin_process(dir.path(), &[]).await;
    let http = client();
    let cookie = sign_in(&http, &admin.base).await;

    let started = Instant::now();
    let response = get_download(&http, &admin.base, &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], BIG.to_string());
    let mut received = 0u64;
    let mut hash = Context::new(&SHA256);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("the stream is not cut");
        received += chunk.len() as u64;
        hash.update(&chunk);
    }
    let peak = peak_rss_kib(admin.pid());
    eprintln!(
        "streamed {} MiB in {:.1}s; admin page peak RSS {} KiB",
        received / (1024 * 1024),
        started.elapsed().as_secs_f64(),
        peak
    );
    assert_eq!(received, BIG);
    let sent = sent_hash
        .lock()
        .unwrap()
        .clone()
        .expect("the upstream finished");
    assert_eq!(hash.finish().as_ref(), sent, "byte-identical");
    assert!(
        peak < 50 * 1024,
        "the admin page's peak RSS was {peak} KiB while streaming 500 MiB"
    );
}
