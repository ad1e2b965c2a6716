//! The shipped nginx examples load in nginx (`nginx -t`), with only what the runbook tells a
//! user to change: the certificate paths (server_name may stay).

use std::path::Path;
use std::process::Command;

/// `nginx`, or a failure saying how to install it.
fn nginx() -> &'static str {
    let found = Command::new("nginx").arg("-v").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "nginx is not installed: apt-get install nginx-light (the deploy examples are checked \
         with nginx -t)"
    );
    "nginx"
}

/// A self-signed certificate and key in `dir`.
fn certificate(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=ingest.example.com", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (
        cert.to_str().unwrap().to_owned(),
        key.to_str().unwrap().to_owned(),
    )
}

#[test]
fn the_nginx_examples_for_the_gateway_and_the_ops_page_pass_nginx_t() {
    let nginx = nginx();
    for (file, host) in [
        ("deploy/nginx-gateway.conf", "ingest.example.com"),
        ("deploy/nginx-admin.conf", "ops.example.com"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = certificate(dir.path());
        let shipped = std::fs::read_to_string(file).unwrap();
        let live = format!("/etc/letsencrypt/live/{host}");
        assert!(
            shipped.contains(&live),
            "{file} names its certificate under {live}"
        );
        let site = shipped
            .replace(&format!("{live}/fullchain.pem"), &cert)
            .replace(&format!("{live}/privkey.pem"), &key);
        std::fs::write(dir.path().join("site.conf"), site).unwrap();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "error_log {d}/error.log;\npid {d}/nginx.pid;\nevents {{}}\n\
                 http {{\n    access_log off;\n    include {d}/site.conf;\n}}\n"
            ),
        )
        .unwrap();
        let out = Command::new(nginx)
            .args(["-t", "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{file}: {said}");
        assert!(said.contains("test is successful"), "{file}: {said}");
    }
}
