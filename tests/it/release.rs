//! `scripts/install-release.sh`, as the hourly workflow runs it, against a release served on
//! loopback (standing in for GitHub's release downloads): a good release installs, one whose
//! checksum does not match installs nothing.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::helpers::cli::BIN;

const VERSION: &str = "9.9.9";

fn target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-gnu",
        _ => "x86_64-unknown-linux-gnu",
    }
}

/// The release's files, as the release workflow names them: the tarball and SHA256SUMS.
fn release(dir: &Path) -> HashMap<String, Vec<u8>> {
    let name = format!("guardrail-followups-{VERSION}-{}", target());
    let folder = dir.join(&name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(BIN, folder.join("guardrail-followups")).unwrap();
    let tarball = format!("{name}.tar.gz");
    let made = Command::new("tar")
        .args(["-czf", &tarball, &name])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(made.success());
    let bytes = std::fs::read(dir.join(&tarball)).unwrap();
    let sum = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let hex: String = sum.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    HashMap::from([
        (
            "SHA256SUMS".to_owned(),
            format!("{hex}  {tarball}\n0000  other.deb\n").into_bytes(),
        ),
        (tarball, bytes),
    ])
}

/// Serves `files` at `/v9.9.9/<name>`.
async fn serve(files: HashMap<String, Vec<u8>>) -> String {
    async fn file(
        State(files): State<Arc<HashMap<String, Vec<u8>>>>,
        UrlPath((tag, name)): UrlPath<(String, String)>,
    ) -> axum::response::Response {
        match files.get(&name) {
            Some(bytes) if tag == format!("v{VERSION}") => bytes.clone().into_response(),
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let router = Router::new()
        .route("/{tag}/{name}", get(file))
        .with_state(Arc::new(files));
    crate::helpers::admin_server::spawn_router(router).await
}

/// Runs the script as the workflow does (on this runtime's other thread: the server answers
/// on this one).
async fn install(base: &str, dest: &Path) -> std::process::Output {
    tokio::process::Command::new("scripts/install-release.sh")
        .args([VERSION, dest.to_str().unwrap()])
        .env("GUARDRAIL_RELEASE_BASE", base)
        .env_remove("GITHUB_REPOSITORY")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_release_installs_only_when_its_checksum_matches() {
    let dir = tempfile::tempdir().unwrap();
    let files = release(dir.path());

    let base = serve(files.clone()).await;
    let dest = dir.path().join("bin");
    let out = install(&base, &dest).await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let installed = Command::new(dest.join("guardrail-followups"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&installed.stdout);
    assert!(version.contains("(commit "), "{version}");
    assert!(said.contains("in "), "{said}");

    // The same tarball with one byte changed: refused, nothing installed.
    let mut tampered = files.clone();
    let tarball = format!("guardrail-followups-{VERSION}-{}.tar.gz", target());
    let bytes = tampered.get_mut(&tarball).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let base = serve(tampered).await;
    let dest = dir.path().join("tampered");
    let out = install(&base, &dest).await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("does not match SHA256SUMS: nothing was installed"),
        "{said}"
    );
    assert!(!dest.join("guardrail-followups").exists());

    // A release without this machine's tarball, and no release at all.
    let mut partial = files.clone();
    partial.remove(&tarball);
    let base = serve(partial).await;
    let out = install(&base, &dir.path().join("partial")).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot download"));
    assert!(!dir.path().join("partial/guardrail-followups").exists());
}
