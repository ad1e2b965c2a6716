//! What the attack tests share: signed requests as the exporter sends them, HTTP clients and
//! raw sockets bound to a chosen loopback address (127.0.0.2 plays the attacker, 127.0.0.1 the
//! legitimate client), open-file limits, and a stop flag for attacker tasks.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use guardrail_followups::row::FollowUp;
use guardrail_followups::wire;
use tokio::net::{TcpSocket, TcpStream};

use super::ingest::{SECRET, envelope, ndjson};

/// The attacker's address.
pub const ATTACKER: &str = "127.0.0.2";

/// A request as the exporter sends it: its key, headers and body.
#[derive(Clone)]
pub struct Captured {
    pub key: String,
    pub signature: String,
    pub body: Vec<u8>,
}

/// `rows` signed now with the tests' secret.
pub fn capture(rows: &[FollowUp]) -> Captured {
    let key = wire::idempotency_key(ndjson(rows).as_bytes());
    let body = envelope(rows);
    let signature = wire::sign(
        SECRET.as_bytes(),
        wire::unix_now(),
        wire::Signed {
            key: &key,
            encoding: "",
            body: &body,
        },
    );
    Captured {
        key,
        signature,
        body,
    }
}

/// A plain HTTP client (reqwest needs a TLS provider installed even for http://).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A plain HTTP client whose connections come from `ip`, each request on a new connection
/// (as a new client's would be: it must be accepted, not ride on one kept alive).
pub fn client_from(ip: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// POSTs a batch; the status and the answer's text.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    signature: Option<&str>,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header(wire::IDEMPOTENCY_KEY, key)
        .body(body);
    if let Some(signature) = signature {
        request = request.header(wire::SIGNATURE, signature);
    }
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Posts `captured` from `client` and says how long the answer took; asserts a 200.
pub async fn post_signed(client: &reqwest::Client, url: &str, captured: &Captured) -> Duration {
    let started = Instant::now();
    let (status, answer) = post(
        client,
        url,
        &captured.key,
        Some(&captured.signature),
        None,
        captured.body.clone(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    started.elapsed()
}

/// The gateway's `/metrics` at `address` (`host:port`).
pub async fn gateway_metrics(address: SocketAddr) -> String {
    client()
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample `series` (its name and labels, as written) in a metrics text.
pub fn metric(metrics: &str, series: &str) -> u64 {
    let prefix = format!("{series} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

/// `guardrail_gateway_connections_closed_by_limit_total{limit="…"}`.
pub fn closed_by_limit(metrics: &str, limit: &str) -> u64 {
    metric(
        metrics,
        &format!("guardrail_gateway_connections_closed_by_limit_total{{limit=\"{limit}\"}}"),
    )
}

/// A TCP connection from `ip` to `to`.
pub async fn connect_from(ip: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ip.parse().unwrap(), 0))?;
    socket.connect(to).await
}

/// Raises this test process' soft open-file limit to its hard limit, which must allow
/// `needed` sockets.
pub fn allow_open_files(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let hard: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|h| h.parse().ok())
        .unwrap_or(0);
    assert!(
        hard >= needed,
        "this test needs {needed} open files, the hard limit is {hard}: raise it (ulimit -Hn)"
    );
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
        .status()
        .expect("prlimit (util-linux) is needed: apt-get install util-linux");
    assert!(
        status.success(),
        "prlimit could not raise this test's open-file limit"
    );
}

/// Sets a running process' open-file limit, as systemd's default `LimitNOFILE=1024` would.
pub fn limit_open_files(pid: u32, limit: u64) {
    let status = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("prlimit (util-linux) is needed: apt-get install util-linux");
    assert!(status.success());
}

/// A flag the attacker tasks look at.
#[derive(Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
