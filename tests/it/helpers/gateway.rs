//! The project's own gateway, run as a real process on a loopback port, and the lake it writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use serde_json::Value;
use tokio::process::Command;

use super::cli::BIN;
use super::server::Server;

/// `gateway ARGS…` of the real binary, its environment sanitised; stdin closed. For a gateway
/// that should serve, use [`GatewayProcess::start`]; this is for starts that must fail.
pub fn gateway_command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    super::sanitise_env(&mut command);
    command
        .arg("gateway")
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// The real gateway, serving on a loopback port it picked itself.
pub struct GatewayProcess {
    server: Server,
    /// The arguments after `--listen ADDR`, for [`GatewayProcess::restart`].
    args: Vec<String>,
}

impl GatewayProcess {
    /// Starts `gateway --listen 127.0.0.1:0 --lake LAKE EXTRA…` and waits until it logs the
    /// address it listens on.
    /// A folder lake is created first, as the systemd unit's StateDirectory does.
    pub async fn start(lake: &str, extra: &[&str]) -> GatewayProcess {
        if !lake.contains("://") {
            std::fs::create_dir_all(lake).unwrap();
        }
        let mut args = vec!["--lake".to_owned(), lake.to_owned()];
        args.extend(extra.iter().map(|a| a.to_string()));
        GatewayProcess {
            server: spawn("127.0.0.1:0", &args).await,
            args,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        self.server.address.to_string()
    }

    /// The ingest URL for `--webhook-url`.
    pub fn url(&self) -> String {
        format!("http://{}/v1/followups", self.server.address)
    }

    /// What the gateway logged on stderr so far (all of it once [`GatewayProcess::wait`]
    /// returned).
    pub fn log(&self) -> String {
        self.server.log()
    }

    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.server.try_wait()
    }

    /// Waits for the gateway to exit and its log to be read to the end.
    pub async fn wait(&mut self) -> ExitStatus {
        self.server.wait().await
    }

    /// SIGKILL: no graceful shutdown, requests in flight are cut.
    pub async fn kill(&mut self) {
        self.server.kill().await;
    }

    /// Starts the same gateway again. A crash test needs the senders' URL to stay valid, so
    /// this one listens on the port the first instance printed (not on a new one): the port
    /// is free again once the killed process is gone.
    pub async fn restart(&mut self) {
        let listen = format!("127.0.0.1:{}", self.port());
        self.server = spawn(&listen, &self.args).await;
    }
}

async fn spawn(listen: &str, args: &[String]) -> Server {
    let mut command = gateway_command(&["--listen", listen]);
    command.args(args);
    Server::start(command, "gateway").await
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
