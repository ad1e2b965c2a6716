//! The README's demo commands, run as a new user runs them in a fresh folder: the first
//! screen's `cargo run -- export --demo --limit 5`, and the ops page's demo block line by line.
//! `cargo run --` and `cargo build` are this test's own build: the lines run with
//! `target/debug/guardrail-followups` linked into the folder, so the rest is verbatim.

use std::path::Path;
use std::time::Duration;

use crate::helpers::cli::BIN;

const README: &str = include_str!("../../README.md");

/// The lines of the fenced `bash` block that follows `after`, continuation lines joined.
fn block_after(after: &str) -> Vec<String> {
    let start = README
        .find(after)
        .unwrap_or_else(|| panic!("README has {after:?}"));
    let rest = &README[start..];
    let open = rest.find("```bash\n").expect("a bash block follows") + "```bash\n".len();
    let close = rest[open..].find("```").unwrap();
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in rest[open..open + close].lines() {
        let line = line.split(" #").next().unwrap().trim_end();
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                lines.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
                current.clear();
            }
        }
    }
    lines
}

/// A fresh folder with `target/debug/guardrail-followups` in it, as after `cargo build`.
fn fresh() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("target/debug")).unwrap();
    std::os::unix::fs::symlink(BIN, dir.path().join("target/debug/guardrail-followups")).unwrap();
    dir
}

/// `sh -c LINE` in `dir`, in a process group of its own, so that [`stop`] ends what it started.
fn sh(dir: &Path, line: &str) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new("sh");
    command.args(["-c", line]).current_dir(dir).process_group(0);
    crate::helpers::sanitise_env(&mut command);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A command left running; dropping it ends it and everything in its process group, also when
/// the test fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_first_screens_demo_command_prints_five_rows() {
    let lines = block_after("# guardrail-followups");
    assert_eq!(
        lines.len(),
        2,
        "exactly two commands on the first screen: {lines:?}"
    );
    let demo = lines[0]
        .strip_prefix("cargo run -- ")
        .expect("the first command runs the binary with cargo run");
    assert_eq!(
        lines[1], "scripts/test.sh",
        "the second runs the whole suite"
    );
    let dir = fresh();
    let out = sh(
        dir.path(),
        &format!("target/debug/guardrail-followups {demo}"),
    )
    .wait_with_output()
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    for line in stdout.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(row["followUpId"].is_string(), "{line}");
    }
}

#[tokio::test]
async fn the_ops_page_demo_runs_verbatim_and_serves_the_card_and_the_download() {
    let lines = block_after("Try it on the demo");
    assert_eq!(lines[0], "cargo build", "{lines:?}");
    let dir = fresh();
    let [_, setup @ .., page] = &lines[..] else {
        panic!("{lines:?}")
    };
    for line in setup {
        let out = sh(dir.path(), line).wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{line}: exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        page.ends_with("target/debug/guardrail-followups admin"),
        "{page}"
    );
    let admin = Running(sh(dir.path(), page));
    let http = crate::helpers::admin_server::client();
    let card = async {
        loop {
            if let Ok(response) = http.get("http://127.0.0.1:8081/admin/reports").send().await {
                return response.text().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let card = tokio::time::timeout(Duration::from_secs(30), card).await;
    let download = http
        .get("http://127.0.0.1:8081/api/reporting/guardrail-followups/export")
        .send()
        .await;
    drop(admin);
    let card = card.expect("the page answers on 127.0.0.1:8081");
    assert!(card.contains(">Healthy<"), "{card}");
    let download = download.unwrap();
    assert_eq!(download.status(), reqwest::StatusCode::OK);
    let latest = std::fs::read(dir.path().join("exports/archive/latest.ndjson")).unwrap();
    assert_eq!(download.bytes().await.unwrap().to_vec(), latest);
}
