//! The gateway against hostile clients, as the real binary on loopback: replays and
//! overwrites, slow-header floods under a 1024 open-file limit, unauthenticated 16 MiB bodies,
//! a full disk, and a few thousand mutated requests.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guardrail_followups::row::FollowUp;
use guardrail_followups::wire;
use rand::RngExt;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::helpers::attack::{
    self, ATTACKER, Stop, allow_open_files, capture, client, client_from, closed_by_limit,
    connect_from, gateway_metrics, limit_open_files, metric, post_signed,
};
use crate::helpers::cli::Export;
use crate::helpers::gateway::{GatewayProcess, local_lake};
use crate::helpers::ingest::{SECRET, TOKEN, envelope, ndjson, rows};
use crate::helpers::pg::TestDb;
use crate::helpers::seeded_rng;

/// POSTs from 127.0.0.1 with a fresh client.
async fn post(
    url: &str,
    key: &str,
    signature: Option<&str>,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    attack::post(&client(), url, key, signature, token, body).await
}

fn object_path(lake: &Path, rows: &[FollowUp], key: &str) -> std::path::PathBuf {
    let date = rows[0].created_at.to_datetime().date_naive();
    lake.join(guardrail_followups::gateway::Lake::batch_key(date, key))
}

#[tokio::test]
async fn a_captured_request_cannot_store_its_rows_again_under_another_key_nor_overwrite_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_text = lake.to_str().unwrap();
    let gateway = GatewayProcess::start(lake_text, &["--secret", SECRET, "--token", TOKEN]).await;
    let url = gateway.url();
    let a = rows(10, "2026-01-22T04:00:00Z");
    let b = rows(10, "2026-01-22T05:00:00Z");
    let captured = capture(&a);
    let send = async |c: &attack::Captured, key: &str| {
        post(&url, key, Some(&c.signature), Some(TOKEN), c.body.clone()).await
    };
    assert_eq!(send(&captured, &captured.key).await.0, 200);
    let stored = object_path(&lake, &a, &captured.key);
    let (bytes, modified) = (
        std::fs::read(&stored).unwrap(),
        std::fs::metadata(&stored).unwrap().modified().unwrap(),
    );

    // Resent as it was: answered 200, the object neither rewritten nor changed.
    for _ in 0..5 {
        assert_eq!(send(&captured, &captured.key).await.0, 200);
    }
    assert_eq!(std::fs::read(&stored).unwrap(), bytes);
    assert_eq!(
        std::fs::metadata(&stored).unwrap().modified().unwrap(),
        modified
    );

    // Under new keys, or under batch B's key: the signature covers the key.
    let b_key = wire::idempotency_key(ndjson(&b).as_bytes());
    for key in [
        "gf1-00000000000000000000000000000000",
        "replayed-1",
        b_key.as_str(),
    ] {
        let (status, body) = send(&captured, key).await;
        assert_eq!(status, 401, "{key}: {body}");
    }
    // With the token alone (a gateway without the secret, a leaked token), another key is
    // still refused: it is not the rows' own.
    let token_only = GatewayProcess::start(lake_text, &["--token", TOKEN]).await;
    let (status, body) = post(
        &token_only.url(),
        &b_key,
        None,
        Some(TOKEN),
        captured.body.clone(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("is not the key of these rows"), "{body}");

    // An object whose key is taken by other bytes: 409, the stored object as it was.
    let b_object = object_path(&lake, &b, &b_key);
    std::fs::create_dir_all(b_object.parent().unwrap()).unwrap();
    std::fs::write(&b_object, b"{\"not\":\"these rows\"}\n").unwrap();
    let b_captured = capture(&b);
    let (status, body) = send(&b_captured, &b_captured.key).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        std::fs::read(&b_object).unwrap(),
        b"{\"not\":\"these rows\"}\n"
    );

    // Every row of A exactly once in the lake, and nothing else but B's foreign object.
    let objects = local_lake(&lake);
    let names: Vec<&str> = objects.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(objects.len(), 2, "{names:?}");
    let a_rows: Vec<&Value> = objects
        .iter()
        .filter(|(name, _)| name.contains(&captured.key))
        .flat_map(|(_, rows)| rows)
        .collect();
    assert_eq!(a_rows.len(), 10);
}

/// One client from the attacker's address that opens a connection, sends a request's first
/// header line and then one byte a second, and connects again when the gateway drops it,
/// until `stop`.
async fn slow_client(address: SocketAddr, stop: Stop) {
    while !stop.is_set() {
        let Ok(mut stream) = connect_from(ATTACKER, address).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if stream
            .write_all(b"POST /v1/followups HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        while !stop.is_set() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if stream.write_all(b"a").await.is_err() {
                break;
            }
        }
    }
}

/// Signed batches of 20 rows from 127.0.0.1, one after the other, until `stop`: how long each
/// took to be acknowledged.
async fn probe_with_signed_batches(url: String, stop: Stop) -> Vec<Duration> {
    let client = client_from("127.0.0.1");
    let mut took = Vec::new();
    let mut hour = 0;
    while !stop.is_set() {
        let batch = rows(
            20,
            &format!("2025-12-{:02}T{:02}:00:00Z", 1 + hour / 24, hour % 24),
        );
        took.push(post_signed(&client, &url, &capture(&batch)).await);
        hour += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    took
}

/// The slowest of `took`, asserted under `bound`.
fn assert_each_within(took: &[Duration], bound: Duration, what: &str) {
    let slowest = took.iter().max().copied().unwrap_or_default();
    assert!(
        !took.is_empty() && slowest < bound,
        "{what}: {} signed batches, the slowest acknowledged in {slowest:?} (bound {bound:?})",
        took.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_header_tricklers_under_a_1024_file_limit_delay_no_signed_batch_and_sigterm_exits_in_time()
 {
    allow_open_files(4500);
    let db = TestDb::new().await;
    db.insert_generated(3000, 5, 1, "2026-01-20T00:00:00Z")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut gateway = GatewayProcess::start(
        lake.to_str().unwrap(),
        &["--secret", SECRET, "--shutdown-timeout-seconds", "5"],
    )
    .await;
    limit_open_files(gateway.pid(), 1024);
    let address: SocketAddr = gateway.address().parse().unwrap();
    let (stop_probe, stop_attack) = (Stop::default(), Stop::default());
    let probe = tokio::spawn(probe_with_signed_batches(gateway.url(), stop_probe.clone()));
    let clients: Vec<_> = (0..2000)
        .map(|_| tokio::spawn(slow_client(address, stop_attack.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let out = Export::new(dir.path())
        .db(&db.url)
        .settle(0)
        .args([
            "--sink",
            "webhook",
            "--webhook-url",
            &gateway.url(),
            "--batch-size",
            "300",
        ])
        .env("GUARDRAIL_EXPORT_WEBHOOK_SECRET", SECRET)
        .run()
        .await;
    out.assert_success();
    // Past a whole header timeout, so the tricklers' connections were cut and made again.
    tokio::time::sleep(Duration::from_secs(12)).await;
    stop_probe.set();
    let took = probe.await.unwrap();
    assert_each_within(
        &took,
        Duration::from_secs(2),
        "among 2,000 header tricklers",
    );
    let stored: usize = local_lake(&lake).iter().map(|(_, rows)| rows.len()).sum();
    assert_eq!(stored, 3000 + 20 * took.len());
    assert!(
        !gateway.log().contains("Too many open files"),
        "{}",
        gateway.log()
    );
    let metrics = gateway_metrics(address).await;
    for limit in ["header_timeout", "connections_per_client"] {
        let counted = closed_by_limit(&metrics, limit);
        assert!(counted > 0, "{limit}: {counted}\n{metrics}");
    }

    // SIGTERM with the tricklers still connected: out within the shutdown deadline.
    let term = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &gateway.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(15), gateway.wait())
        .await
        .expect("the gateway exits within its shutdown deadline after SIGTERM");
    assert!(exit.success(), "{exit:?}");
    assert!(
        term.elapsed() < Duration::from_secs(10),
        "{:?}",
        term.elapsed()
    );
    stop_attack.set();
    for client in clients {
        client.abort();
    }
}

/// The gateway's peak resident memory, from `/proc`.
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// The documented bound on the gateway's memory while unauthenticated clients send the
/// largest bodies allowed (README, "Hostile clients").
const MEMORY_BOUND: u64 = 200 * 1024 * 1024;

/// One attacker from 127.0.0.2: a 16 MiB body with a fresh timestamp and a wrong v2, sent at
/// 256 KiB/s, again and again; the statuses it gets go to `statuses`.
async fn slow_forged_body(address: SocketAddr, i: usize, statuses: Arc<Mutex<Vec<u16>>>) {
    const LENGTH: usize = 16 * 1024 * 1024 - 1024;
    let chunk = vec![b' '; 32 * 1024];
    loop {
        let Ok(stream) = connect_from(ATTACKER, address).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (mut read, mut write) = stream.into_split();
        let head = format!(
            "POST /v1/followups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {LENGTH}\r\n{}: gf1-attack{i}\r\n{}: t={},v2={}\r\n\r\n",
            wire::IDEMPOTENCY_KEY,
            wire::SIGNATURE,
            wire::unix_now(),
            "ab".repeat(32)
        );
        let answer = tokio::spawn(async move {
            let mut answer = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut read, &mut answer).await;
            answer
        });
        let mut sent = 0;
        let mut ok = write.write_all(head.as_bytes()).await.is_ok();
        while ok && sent < LENGTH && !answer.is_finished() {
            let n = chunk.len().min(LENGTH - sent);
            ok = write.write_all(&chunk[..n]).await.is_ok();
            sent += n;
            tokio::time::sleep(Duration::from_millis(125)).await;
        }
        drop(write);
        if let Ok(Ok(answer)) = tokio::time::timeout(Duration::from_secs(5), answer).await
            && let Some(status) = String::from_utf8_lossy(&answer)
                .strip_prefix("HTTP/1.1 ")
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse().ok())
        {
            statuses.lock().unwrap().push(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_slow_forged_16_mib_bodies_from_one_address_keep_the_gateway_under_200_mb_and_delay_no_signed_batch()
 {
    let db = TestDb::new().await;
    db.insert_generated(1000, 5, 1, "2026-01-20T00:00:00Z")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let gateway = GatewayProcess::start(lake.to_str().unwrap(), &["--secret", SECRET]).await;
    let address: SocketAddr = gateway.address().parse().unwrap();
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let attackers: Vec<_> = (0..64)
        .map(|i| tokio::spawn(slow_forged_body(address, i, statuses.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A default export of 1,000 rows, and signed batches throughout, from 127.0.0.1.
    let stop_probe = Stop::default();
    let probe = tokio::spawn(probe_with_signed_batches(gateway.url(), stop_probe.clone()));
    let out = Export::new(dir.path())
        .db(&db.url)
        .settle(0)
        .args(["--sink", "webhook", "--webhook-url", &gateway.url()])
        .env("GUARDRAIL_EXPORT_WEBHOOK_SECRET", SECRET)
        .run()
        .await;
    out.assert_success();
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop_probe.set();
    let took = probe.await.unwrap();
    assert_each_within(&took, Duration::from_secs(2), "among 64 slow forged bodies");
    let stored: usize = local_lake(&lake).iter().map(|(_, rows)| rows.len()).sum();
    assert_eq!(stored, 1000 + 20 * took.len());
    // The export's own batches too: every stored request was answered within 2 s (no forged
    // body can be answered that fast: at 256 KiB/s it takes a minute to send).
    let metrics = gateway_metrics(address).await;
    let stored_requests = metric(
        &metrics,
        "guardrail_gateway_requests_total{outcome=\"stored\",status=\"200\"}",
    );
    let within_2s = metric(
        &metrics,
        "guardrail_gateway_request_duration_seconds_bucket{le=\"2.048\"}",
    );
    assert!(stored_requests > took.len() as u64, "{metrics}");
    assert!(
        within_2s >= stored_requests,
        "{stored_requests} batches stored, {within_2s} requests answered within 2 s"
    );

    for attacker in attackers {
        attacker.abort();
    }
    for status in statuses.lock().unwrap().iter() {
        assert!(
            matches!(status, 401 | 408 | 503),
            "an unauthenticated body got {status}"
        );
    }
    let peak = peak_rss_bytes(gateway.pid());
    assert!(
        peak < MEMORY_BOUND,
        "the gateway peaked at {} MB (bound {} MB)",
        peak / 1_000_000,
        MEMORY_BOUND / 1_000_000
    );
}

/// A small tmpfs, mounted for the test and unmounted after it.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount is needed (util-linux), and the test must run as root to mount a tmpfs");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {}: the full-disk test needs root (CI runs as root)",
            dir.path().display()
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

async fn healthz(address: &str) -> u16 {
    client()
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_full_disk_fails_the_health_check_until_space_is_freed() {
    let disk = Tmpfs::mount("4m");
    let lake = disk.path().join("lake");
    let gateway = GatewayProcess::start(lake.to_str().unwrap(), &[]).await;
    assert_eq!(healthz(&gateway.address()).await, 200);
    // Fill the disk, leaving less than one block free.
    let filler = disk.path().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    let _ = std::io::Write::write_all(&mut file, &[0u8; 1024]);
    drop(file);
    assert_eq!(healthz(&gateway.address()).await, 503);
    let batch = rows(5, "2026-01-22T04:00:00Z");
    let key = wire::idempotency_key(ndjson(&batch).as_bytes());
    let (status, body) = post(&gateway.url(), &key, None, None, envelope(&batch)).await;
    assert_eq!(status, 503, "{body}");
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(healthz(&gateway.address()).await, 200);
    let (status, body) = post(&gateway.url(), &key, None, None, envelope(&batch)).await;
    assert_eq!(status, 200, "{body}");
}

/// One mutation of a valid, signed request.
fn mutate(
    rng: &mut rand_chacha::ChaCha8Rng,
    rows: &[FollowUp],
) -> (String, Option<String>, Option<String>, Vec<u8>) {
    let mut body = envelope(rows);
    let mut key = wire::idempotency_key(ndjson(rows).as_bytes());
    let mut encoding: Option<String> = None;
    match rng.random_range(0..8) {
        // Flip bytes of the body.
        0 => {
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..body.len());
                body[i] ^= 1 << rng.random_range(0..8);
            }
        }
        // Cut it short.
        1 => body.truncate(rng.random_range(0..body.len())),
        // Another key, or a malformed one.
        2 => {
            key = ["gf1-", "", "../x", "gf1-zz"][rng.random_range(0..4)].to_owned()
                + &rng.random::<u32>().to_string()
        }
        // A key repeated in a row, or a value of another type.
        3 => {
            let text = String::from_utf8(body).unwrap();
            body = match rng.random_range(0..3) {
                0 => text.replacen("\"action\":", "\"action\":\"pause\",\"action\":", 1),
                1 => text.replacen("\"notes\":\"", "\"notes\":7,\"x\":\"", 1),
                _ => text.replacen("\"createdAt\":\"2026", "\"createdAt\":\"1026", 1),
            }
            .into_bytes();
        }
        // A gzip that is not gzip, or an encoding the gateway does not take.
        4 => encoding = Some(["gzip", "br", "GZIP"][rng.random_range(0..3)].to_owned()),
        // Valid: stored, or already stored.
        _ => {}
    }
    let signed = rng.random_bool(0.8).then(|| {
        wire::sign(
            SECRET.as_bytes(),
            wire::unix_now(),
            wire::Signed {
                key: &key,
                encoding: encoding.as_deref().unwrap_or(""),
                body: &body,
            },
        )
    });
    (key, encoding, signed, body)
}

#[tokio::test]
async fn thousands_of_mutated_requests_get_200_4xx_or_503_and_an_object_exists_exactly_for_each_200()
 {
    let (mut rng, seed) = seeded_rng("gateway fuzz");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut gateway = GatewayProcess::start(lake.to_str().unwrap(), &["--secret", SECRET]).await;
    let client = client();
    let batches: Vec<Vec<FollowUp>> = (0..20)
        .map(|i| rows(1 + i % 7, &format!("2026-01-{:02}T04:00:00Z", 1 + i)))
        .collect();
    let mut stored = std::collections::BTreeSet::new();
    for attempt in 0..3000 {
        let batch = &batches[rng.random_range(0..batches.len())];
        let (key, encoding, signature, body) = mutate(&mut rng, batch);
        let mut request = client
            .post(gateway.url())
            .header("content-type", "application/json")
            .header(wire::IDEMPOTENCY_KEY, key)
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        if let Some(signature) = signature {
            request = request.header(wire::SIGNATURE, signature);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {attempt} ({seed}): {e}"));
        let status = response.status().as_u16();
        assert!(
            status == 200 || status == 503 || (400..500).contains(&status),
            "request {attempt} got {status} ({seed})"
        );
        if status == 200 {
            let answer: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            stored.insert(answer["stored"].as_str().unwrap().to_owned());
        }
    }
    assert!(
        gateway.try_wait().is_none(),
        "the gateway is still up ({seed})"
    );
    let objects = local_lake(&lake);
    let names: std::collections::BTreeSet<String> =
        objects.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(
        names, stored,
        "an object exists exactly for each 200 ({seed})"
    );
    for (name, rows) in &objects {
        for row in rows {
            let row: FollowUp = serde_json::from_value(row.clone())
                .unwrap_or_else(|e| panic!("{name} holds an invalid row ({e}; {seed})"));
            row.check_canonical()
                .unwrap_or_else(|e| panic!("{name}: {e} ({seed})"));
        }
    }
    assert!(!stored.is_empty(), "some requests were valid ({seed})");
}
