//! Puts the commit the binary is built from into `--version` (`GUARDRAIL_COMMIT`): from the
//! environment when the release workflow sets it, else from `git`, else `unknown` (a source
//! tarball without `.git`).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GUARDRAIL_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("GUARDRAIL_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=GUARDRAIL_COMMIT={commit}");
}
