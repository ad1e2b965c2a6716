//! The project's own gateway, run as a real process on a loopback port, and the lake it writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use super::cli::BIN;

pub struct GatewayProcess {
    child: Child,
    pub port: u16,
    args: Vec<String>,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl GatewayProcess {
    /// Starts `gateway --lake LAKE EXTRA…` on a free port and waits until it is healthy.
    pub async fn start(lake: &str, extra: &[&str]) -> GatewayProcess {
        let port = free_port();
        let mut args: Vec<String> = vec![
            "gateway".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ];
        args.extend(["--lake".into(), lake.into()]);
        args.extend(extra.iter().map(|a| a.to_string()));
        let child = spawn(&args);
        let gateway = GatewayProcess { child, port, args };
        gateway.wait_healthy().await;
        gateway
    }

    /// The ingest URL for `--webhook-url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/followups", self.port)
    }

    /// SIGKILL: no graceful shutdown, requests in flight are cut.
    pub async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// Starts the same gateway again on the same port.
    pub async fn restart(&mut self) {
        self.child = spawn(&self.args);
        self.wait_healthy().await;
    }

    async fn wait_healthy(&self) {
        // reqwest is built without a default TLS provider; the binary installs ring, so do we.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        for _ in 0..200 {
            if let Ok(response) = reqwest::get(&url).await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not become healthy at {url}");
    }
}

fn spawn(args: &[String]) -> Child {
    let mut command = Command::new(BIN);
    super::sanitise_env(&mut command)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Problems only: a stored batch is not news in a test's output.
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("gateway started")
}

/// Every NDJSON object under `dir`, as (path relative to `dir`, rows).
pub fn local_lake(dir: &Path) -> Vec<(String, Vec<Value>)> {
    let mut objects = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                objects.push((name, parse_ndjson(&std::fs::read(&path).unwrap())));
            }
        }
    }
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    objects
}

pub fn parse_ndjson(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("lake line is not JSON ({e}): {line}"))
        })
        .collect()
}

/// What a lake holds, summarised for the exactness checks.
pub struct LakeSummary {
    /// Rows over all objects, duplicates included.
    pub rows: usize,
    /// Each row once, by followUpId.
    pub unique: HashMap<String, Value>,
}

pub fn summarise(objects: &[(String, Vec<Value>)]) -> LakeSummary {
    let mut unique = HashMap::new();
    let mut rows = 0;
    for (name, object_rows) in objects {
        assert!(name.ends_with(".ndjson"), "unexpected object {name}");
        assert!(
            name.contains("guardrail_followups/dt="),
            "objects live under guardrail_followups/dt=YYYY-MM-DD/: {name}"
        );
        for row in object_rows {
            rows += 1;
            let id = row["followUpId"].as_str().unwrap().to_owned();
            if let Some(previous) = unique.insert(id.clone(), row.clone()) {
                assert_eq!(previous, *row, "two versions of follow-up {id}");
            }
        }
    }
    LakeSummary { rows, unique }
}
