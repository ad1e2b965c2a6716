//! The gateway and the ops page stay available while one address holds connections open
//! without sending a request: 520 idle sockets and 520 HTTP/2 prefaces from 127.0.0.2 under a
//! 1024 open-file limit, with default flags. Each of them is closed within the header timeout
//! (10 s) plus 2 s of being opened, and 127.0.0.1 is served within 5 s from the first second.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::admin_server::{AdminProcess, PASSWORD};
use crate::helpers::attack::{
    ATTACKER, allow_open_files, capture, client_from, closed_by_limit, connect_from,
    gateway_metrics, limit_open_files, post_signed,
};
use crate::helpers::gateway::{GatewayProcess, local_lake};
use crate::helpers::ingest::{SECRET, rows};

/// The default `--header-timeout-seconds`.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const SOCKETS: usize = 520;
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Opens `SOCKETS` idle connections and `SOCKETS` that send only the HTTP/2 preface, from the
/// attacker's address, then runs `served` (the legitimate client's requests) and asserts that
/// every attacker connection was closed by the server within the header timeout plus 2 s.
async fn hold_connections_while<F: Future<Output = ()>>(server: SocketAddr, served: F) {
    allow_open_files(4 * SOCKETS as u64 + 200);
    let mut watchers = Vec::new();
    for i in 0..2 * SOCKETS {
        let mut stream = connect_from(ATTACKER, server)
            .await
            .expect("the kernel completes the connection");
        let opened = Instant::now();
        if i % 2 == 1 {
            // Refused at once by the per-client limit, the write may fail: that is closed too.
            let _ = stream.write_all(PREFACE).await;
        }
        watchers.push(tokio::spawn(async move {
            // Whatever the server sends (HTTP/2 settings), read until it closes.
            let mut sink = [0; 1024];
            loop {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return opened.elapsed(),
                    Ok(_) => {}
                }
            }
        }));
    }
    served.await;
    let bound = HEADER_TIMEOUT + Duration::from_secs(2);
    let mut longest = Duration::ZERO;
    for (i, watcher) in watchers.into_iter().enumerate() {
        let lived = tokio::time::timeout(bound * 2, watcher)
            .await
            .unwrap_or_else(|_| panic!("attacker connection {i} still open after {:?}", bound * 2))
            .unwrap();
        longest = longest.max(lived);
        assert!(
            lived <= bound,
            "attacker connection {i} ({}) lived {lived:?}, bound {bound:?}",
            if i % 2 == 1 { "HTTP/2 preface" } else { "idle" }
        );
    }
    eprintln!("the longest-lived attacker connection lasted {longest:?}");
}

/// Runs `request` 20 times from the first second on, each on a new connection from 127.0.0.1,
/// asserting each is answered within 5 s.
async fn twenty_times_within_five_seconds<F, R>(what: &str, mut request: F)
where
    F: FnMut(usize) -> R,
    R: Future<Output = ()>,
{
    for i in 0..20 {
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), request(i))
            .await
            .unwrap_or_else(|_| panic!("{what} #{i} was not answered within 5 s"));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{what} #{i} took {took:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_and_http2_prefaces_from_one_address_are_closed_in_time_and_another_address_gets_health_and_batches_through()
 {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let gateway = GatewayProcess::start(lake.to_str().unwrap(), &["--secret", SECRET]).await;
    limit_open_files(gateway.pid(), 1024);
    let server: SocketAddr = gateway.address().parse().unwrap();
    let (url, health) = (gateway.url(), format!("http://{server}/healthz"));
    let client = client_from("127.0.0.1");
    hold_connections_while(server, async {
        twenty_times_within_five_seconds("GET /healthz", |_| async {
            let response = client.get(&health).send().await.unwrap();
            assert_eq!(response.status(), 200);
        })
        .await;
        twenty_times_within_five_seconds("a signed batch", |i| {
            let batch = rows(10, &format!("2026-02-01T{i:02}:00:00Z"));
            let (client, url) = (&client, &url);
            async move {
                post_signed(client, url, &capture(&batch)).await;
            }
        })
        .await;
    })
    .await;
    let stored: usize = local_lake(&lake).iter().map(|(_, rows)| rows.len()).sum();
    assert_eq!(stored, 200);
    assert!(
        !gateway.log().contains("Too many open files"),
        "{}",
        gateway.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_and_http2_prefaces_from_one_address_are_closed_in_time_and_another_address_gets_the_login_page()
 {
    let admin = AdminProcess::start(&[], &[("GUARDRAIL_ADMIN_PASSWORD", PASSWORD)]).await;
    limit_open_files(admin.pid(), 1024);
    let base = admin.base.clone();
    let server: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let client = client_from("127.0.0.1");
    hold_connections_while(server, async {
        twenty_times_within_five_seconds("GET /admin/login", |_| async {
            let response = client
                .get(format!("{base}/admin/login"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        })
        .await;
    })
    .await;
    assert!(
        !admin.log().contains("Too many open files"),
        "{}",
        admin.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_minimum_rate_is_answered_408_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let gateway = GatewayProcess::start(
        lake.to_str().unwrap(),
        &[
            "--secret",
            SECRET,
            "--header-timeout-seconds",
            "1",
            "--min-body-rate-bytes",
            "1000",
        ],
    )
    .await;
    let server: SocketAddr = gateway.address().parse().unwrap();
    let batch = capture(&rows(10, "2026-02-02T00:00:00Z"));
    let mut stream = connect_from(ATTACKER, server).await.unwrap();
    let head = format!(
        "POST /v1/followups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{}: {}\r\n{}: {}\r\n\r\n",
        batch.body.len(),
        guardrail_followups::wire::IDEMPOTENCY_KEY,
        batch.key,
        guardrail_followups::wire::SIGNATURE,
        batch.signature
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // 10 bytes, then a byte every half second: far below 1000 bytes a second.
    stream.write_all(&batch.body[..10]).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let body = batch.body.clone();
    let trickle = tokio::spawn(async move {
        for byte in &body[10..] {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut answer))
        .await
        .expect("the gateway answers and closes")
        .unwrap();
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("slower than 1000 bytes a second"),
        "{answer}"
    );
    // The same batch at full speed is stored, and the slow one was counted.
    let client = client_from("127.0.0.1");
    post_signed(&client, &gateway.url(), &batch).await;
    let metrics = gateway_metrics(server).await;
    assert_eq!(closed_by_limit(&metrics, "min_body_rate"), 1);
    assert!(
        metrics.contains("guardrail_gateway_requests_total{outcome=\"timeout\",status=\"408\"} 1"),
        "{metrics}"
    );
}
