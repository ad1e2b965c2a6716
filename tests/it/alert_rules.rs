//! The Prometheus alert rules shipped in `deploy/prometheus/`: `promtool check rules` and
//! `promtool test rules` (each rule firing where it should and quiet where it should not), and
//! every series the rules and their tests name is one the exporter's textfile or the gateway's
//! `/metrics` really writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use guardrail_followups::gateway::Metrics;

use crate::helpers::cli::Export;

const RULES: &str = "deploy/prometheus/guardrail-followups.rules.yml";
const RULE_TESTS: &str = "deploy/prometheus/guardrail-followups.rules.test.yml";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn promtool() -> PathBuf {
    if let Some(path) = std::env::var_os("GUARDRAIL_TEST_PROMTOOL") {
        return path.into();
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    found.expect(
        "promtool is needed by the alert-rule tests: scripts/with-promtool.sh installs it \
         (Debian: apt-get install --no-install-recommends prometheus), or set \
         GUARDRAIL_TEST_PROMTOOL",
    )
}

fn run_promtool(args: &[&str], dir: &Path) -> String {
    let output = Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn the_rules_are_valid_and_their_tests_pass() {
    let rules = repo().join(RULES);
    let checked = run_promtool(&["check", "rules", rules.to_str().unwrap()], &repo());
    assert!(checked.contains("SUCCESS: 14 rules found"), "{checked}");
    let tested = run_promtool(
        &[
            "test",
            "rules",
            Path::new(RULE_TESTS).file_name().unwrap().to_str().unwrap(),
        ],
        rules.parent().unwrap(),
    );
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// `guardrail_…` names in `text`.
fn series_named(text: &str) -> BTreeSet<String> {
    let regex = regex::Regex::new(r"guardrail_(export|gateway|reconcile)_[a-z_]+").unwrap();
    regex
        .find_iter(text)
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// The names of the samples in a Prometheus text exposition.
fn samples_in(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_series_the_rules_name_is_one_the_exporter_or_the_gateway_writes() {
    // The exporter's textfile after a demo run that leaves rows waiting.
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("guardrail.prom");
    Export::new(dir.path())
        .args([
            "--demo",
            "--limit",
            "5",
            "--metrics-path",
            textfile.to_str().unwrap(),
        ])
        .run()
        .await
        .assert_success();
    let mut written = samples_in(&std::fs::read_to_string(&textfile).unwrap());
    // The gateway's /metrics once it answered a batch.
    let gateway = Metrics::new();
    gateway.request("stored", 200, std::time::Duration::from_millis(5));
    written.extend(samples_in(&gateway.render()));
    // The reconcile's own textfile after a demo reconcile that repaired an empty lake through
    // the file sink (which leaves the lake as it was: differences remain).
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let reconcile_textfile = dir.path().join("reconcile.prom");
    let reconciled = Export::subcommand(
        dir.path(),
        &[
            "reconcile",
            "--demo",
            "--lake",
            lake.to_str().unwrap(),
            "--repair",
            "--sink",
            "file",
            "--file-path",
            dir.path().join("repaired.ndjson").to_str().unwrap(),
            "--metrics-path",
            reconcile_textfile.to_str().unwrap(),
        ],
    )
    .run()
    .await;
    assert_eq!(reconciled.code, 4, "{reconciled:?}");
    let reconcile_series = std::fs::read_to_string(&reconcile_textfile).unwrap();
    assert!(
        !reconcile_series.contains("guardrail_reconcile_differences{kind=\"missing\"} 0\n"),
        "the repair through a file leaves the lake's missing follow-ups: {reconcile_series}"
    );
    written.extend(samples_in(&reconcile_series));

    for file in [RULES, RULE_TESTS] {
        let named = series_named(&std::fs::read_to_string(repo().join(file)).unwrap());
        assert!(!named.is_empty());
        let unknown: Vec<_> = named.difference(&written).collect();
        assert!(
            unknown.is_empty(),
            "{file} names series nobody writes: {unknown:?}; written: {written:?}"
        );
    }
}
