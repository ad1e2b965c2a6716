//! Running the real binary, as a user would.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_guardrail-followups");

/// What a finished run printed and returned.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Output {
        assert_eq!(self.code, 0, "expected success; stderr:\n{}", self.stderr);
        self
    }
}

/// An `export` invocation under construction. The environment is cleared of every variable the
/// program reads, so a developer's own settings cannot leak in.
pub struct Export {
    /// `--settle-seconds`, for `export` only.
    settle: Option<u64>,
    args: Vec<String>,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    /// How long the run may take (a minute unless set).
    limit: Duration,
}

impl Export {
    pub fn new(cwd: &Path) -> Export {
        Export {
            settle: Some(0),
            args: vec!["export".into()],
            cwd: cwd.to_owned(),
            env: vec![],
            limit: Duration::from_secs(60),
        }
    }

    /// Another subcommand (`check`, `cursor show`…), with the same environment hygiene.
    pub fn subcommand(cwd: &Path, words: &[&str]) -> Export {
        let args = words.iter().map(|w| w.to_string()).collect();
        Export {
            settle: None,
            args,
            cwd: cwd.to_owned(),
            env: vec![],
            limit: Duration::from_secs(60),
        }
    }

    /// `--settle-seconds` (0 unless set: test rows are committed before the run starts).
    pub fn settle(mut self, seconds: u64) -> Export {
        self.settle = Some(seconds);
        self
    }

    pub fn db(self, url: &str) -> Export {
        self.args(["--database-url", url])
    }

    pub fn args<I, S>(mut self, args: I) -> Export
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Lets the run take up to `limit` (for runs over a million rows on a debug build).
    pub fn within(mut self, limit: Duration) -> Export {
        self.limit = limit;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Export {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(BIN);
        command.args(&self.args);
        if let Some(settle) = self.settle {
            command.args(["--settle-seconds", &settle.to_string()]);
        }
        command.current_dir(&self.cwd);
        super::sanitise_env(&mut command);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command.stdin(Stdio::null()).kill_on_drop(true);
        command
    }

    /// Runs to completion (at most a minute, or what [`Export::within`] set).
    pub async fn run(&self) -> Output {
        let child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output();
        let out = tokio::time::timeout(self.limit, child)
            .await
            .unwrap_or_else(|_| panic!("{:?} did not finish within {:?}", self.args, self.limit))
            .expect("export binary started");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }
}

/// The `followUpId` of every NDJSON line.
pub fn ndjson_ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            value["followUpId"]
                .as_str()
                .expect("followUpId is a string")
                .to_owned()
        })
        .collect()
}
