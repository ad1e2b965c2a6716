//! Connecting as `psql` does, against servers as production has them: a PostgreSQL with TLS
//! and a private CA, one that demands client certificates, one without TLS, PgBouncer in
//! transaction pooling mode, a socket that never answers and a backend that stops mid-stream.
//! `scripts/with-pg-tls.sh` (run by `scripts/test.sh`) starts the servers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::helpers::pg::{connect, with_database};
use crate::helpers::{Export, TestDb, ndjson_ids};

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set. Run the suite with `scripts/test.sh`, which starts a PostgreSQL \
             with TLS and a private CA, and PgBouncer (scripts/with-pg-tls.sh; it needs openssl, \
             pgbouncer and postgresql-client, installed from the machine's packages when root)"
        )
    })
}

fn tls_dir() -> PathBuf {
    PathBuf::from(required("TEST_TLS_DIR"))
}

/// `localhost:port` of the TLS server.
fn tls_server() -> (String, u16) {
    let url = url::Url::parse(&required("TEST_TLS_DATABASE_URL")).unwrap();
    (url.host_str().unwrap().to_owned(), url.port().unwrap())
}

/// Runs `psql` on the same connection string, with the same (empty) home and environment, and
/// says whether it connected and read the table.
async fn psql_connects(url: &str, home: &Path) -> bool {
    let out = tokio::process::Command::new("psql")
        .args([
            url,
            "-Atc",
            "SELECT count(*) FROM provider_guardrail_followup",
        ])
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .await
        .expect("psql runs (install postgresql-client)");
    out.status.success()
}

/// One `export` to stdout with this connection string; `HOME` is an empty folder, so libpq's
/// default files (`~/.postgresql/root.crt`, `~/.pgpass`) do not exist.
async fn export(url: &str, home: &Path) -> crate::helpers::cli::Output {
    Export::new(home)
        .db(url)
        .env("HOME", home.to_str().unwrap())
        .run()
        .await
}

#[tokio::test]
async fn every_sslmode_behaves_as_psql_does_against_a_private_ca() {
    let db = TestDb::on(&required("TEST_TLS_DATABASE_URL")).await;
    db.insert_generated(7, 1, 1, "2026-01-22 04:00:00+00").await;
    let (host, port) = tls_server();
    let dir = tls_dir();
    let ca = dir.join("ca.crt").display().to_string();
    let other = dir.join("other-ca.crt").display().to_string();
    let cert = format!(
        "sslcert={}&sslkey={}",
        dir.join("client.crt").display(),
        dir.join("client.key").display()
    );
    let name = db.name();
    let at =
        |h: &str, user: &str, query: &str| format!("postgres://{user}@{h}:{port}/{name}{query}");
    let pw = "postgres:postgres";
    // (URL, connects, a phrase the exporter's error must hold)
    let cases = [
        (at(&host, pw, ""), true, ""),
        (at(&host, pw, "?sslmode=disable"), true, ""),
        (at(&host, pw, "?sslmode=allow"), true, ""),
        (at(&host, pw, "?sslmode=prefer"), true, ""),
        (at(&host, pw, "?sslmode=require"), true, ""),
        (
            at(&host, pw, &format!("?sslmode=verify-ca&sslrootcert={ca}")),
            true,
            "",
        ),
        (
            at(&host, pw, &format!("?sslmode=verify-full&sslrootcert={ca}")),
            true,
            "",
        ),
        (
            at(
                "127.0.0.1",
                pw,
                &format!("?sslmode=verify-full&sslrootcert={ca}"),
            ),
            true,
            "",
        ),
        (
            at(
                "127.0.0.2",
                pw,
                &format!("?sslmode=verify-ca&sslrootcert={ca}"),
            ),
            true,
            "",
        ),
        (
            at(
                "127.0.0.2",
                pw,
                &format!("?sslmode=verify-full&sslrootcert={ca}"),
            ),
            false,
            "not for the host `127.0.0.2`",
        ),
        (at(&host, pw, "?sslmode=verify-full"), false, "sslrootcert="),
        (at(&host, pw, "?sslmode=verify-ca"), false, "sslrootcert="),
        (
            at(
                &host,
                pw,
                &format!("?sslmode=verify-full&sslrootcert={other}"),
            ),
            false,
            "issued by `CN=guardrail",
        ),
        // libpq: `require` with a root certificate verifies the chain.
        (
            at(&host, pw, &format!("?sslmode=require&sslrootcert={other}")),
            false,
            "issued by",
        ),
        (
            at(
                &host,
                pw,
                "?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            ),
            false,
            "/nonexistent/ca.pem",
        ),
        // A CA file that cannot be read is named.
        (
            at(
                &host,
                pw,
                &format!("?sslmode=verify-full&sslrootcert={}", dir.display()),
            ),
            false,
            "cannot read the root certificate file",
        ),
        // With the default sslmode, a wrong password is reported as such, not as a TLS error.
        (
            at(&host, "postgres:wrong-pass", ""),
            false,
            "password authentication failed",
        ),
        // The server demands a client certificate from certuser, over TLS only.
        (
            at(
                &host,
                "certuser",
                &format!("?sslmode=verify-full&sslrootcert={ca}&{cert}"),
            ),
            true,
            "",
        ),
        (at(&host, "certuser", &format!("?{cert}")), true, ""),
        // `allow` tries plain text first, then TLS when the server refuses it.
        (
            at(&host, "certuser", &format!("?sslmode=allow&{cert}")),
            true,
            "",
        ),
        (
            at(
                &host,
                "certuser",
                &format!("?sslmode=verify-full&sslrootcert={ca}"),
            ),
            false,
            "sslcert=",
        ),
        (
            at(&host, "certuser", &format!("?sslmode=disable&{cert}")),
            false,
            "no encryption",
        ),
    ];
    let home = tempfile::tempdir().unwrap();
    for (url, connects, phrase) in &cases {
        let psql = psql_connects(url, home.path()).await;
        assert_eq!(psql, *connects, "psql on {url}");
        let out = export(url, home.path()).await;
        if *connects {
            assert_eq!(out.code, 0, "{url}: {}", out.stderr);
            assert_eq!(ndjson_ids(&out.stdout).len(), 7, "{url}");
        } else {
            assert_ne!(out.code, 0, "{url}");
            assert!(out.stdout.is_empty(), "{url}");
            assert!(
                out.stderr.contains(phrase),
                "{url}: expected `{phrase}` in {}",
                out.stderr
            );
            assert!(
                out.stderr.contains("Fix:") || out.stderr.contains("Fix"),
                "{}",
                out.stderr
            );
        }
    }
    // The key=value form and the PG* variables reach the same server the same way.
    let kv = format!(
        "host={host} port={port} dbname={name} user=postgres password=postgres sslmode=verify-full sslrootcert='{ca}'"
    );
    let out = export(&kv, home.path()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = Export::new(home.path())
        .db("postgresql://")
        .env("HOME", home.path().to_str().unwrap())
        .env("PGHOST", &host)
        .env("PGPORT", &port.to_string())
        .env("PGDATABASE", &name)
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", "postgres")
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", &ca)
        .run()
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ndjson_ids(&out.stdout).len(), 7);
}

#[tokio::test]
async fn a_server_without_tls_serves_prefer_in_plain_text_and_refuses_require() {
    let db = TestDb::new().await;
    let ssl: String = db
        .client()
        .await
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        ssl, "off",
        "TEST_DATABASE_URL must point at a server with ssl = off for this test"
    );
    db.insert_generated(3, 1, 1, "2026-01-22 04:00:00+00").await;
    let home = tempfile::tempdir().unwrap();
    for (query, connects) in [
        ("", true),
        ("?sslmode=prefer", true),
        ("?sslmode=require", false),
    ] {
        let url = format!("{}{query}", db.url);
        assert_eq!(
            psql_connects(&url, home.path()).await,
            connects,
            "psql on {url}"
        );
        let out = export(&url, home.path()).await;
        if connects {
            assert_eq!(out.code, 0, "{}", out.stderr);
            assert_eq!(ndjson_ids(&out.stdout).len(), 3);
        } else {
            assert_eq!(out.code, 1, "{}", out.stderr);
            assert!(out.stderr.contains("does not accept TLS"), "{}", out.stderr);
            assert!(out.stderr.contains("sslmode=require"), "{}", out.stderr);
        }
    }
}

/// A loopback port that accepts TCP connections and never says a word, like a stuck pooler.
async fn silent_server() -> u16 {
    silent_server_counting().await.0
}

/// [`silent_server`], and how many connections it has accepted so far.
async fn silent_server_counting() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_server_that_never_answers_fails_within_the_connect_timeout() {
    let port = silent_server().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://exporter:s3cret-pw@127.0.0.1:{port}/app?connect_timeout=2");
    for words in [&["export"][..], &["check"][..]] {
        let started = Instant::now();
        let out = Export::subcommand(dir.path(), words).db(&url).run().await;
        let took = started.elapsed();
        // `check` reports on stdout, `export` on stderr.
        let text = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(out.code, 1, "{words:?}: {text}");
        assert!(took < Duration::from_secs(2 + 5), "{words:?} took {took:?}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("no answer within 2 s"), "{text}");
        assert!(!text.contains("s3cret-pw"), "{text}");
    }
    // Without connect_timeout, `check` still answers within its own 10 s.
    let url = format!("postgres://exporter@127.0.0.1:{port}/app");
    let started = Instant::now();
    let out = Export::subcommand(dir.path(), &["check"])
        .db(&url)
        .run()
        .await;
    let text = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, 1, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(10 + 5),
        "{:?}",
        started.elapsed()
    );
    assert!(text.contains("no answer within 10 s"), "{text}");
}

#[tokio::test]
async fn a_backend_stopped_mid_stream_fails_the_run_and_the_next_run_resumes_exactly() {
    let db = TestDb::on(&required("TEST_TLS_DATABASE_URL")).await;
    db.insert_generated(100_000, 3, 1, "2026-01-22 04:00:00+00")
        .await;
    let all = db.ordered_ids(None).await;
    let dir = tempfile::tempdir().unwrap();
    let app = format!("gf-stop-{}", db.name());
    let url = format!("{}?application_name={app}", db.url);
    let run = || {
        Export::new(dir.path()).db(&url).args([
            "--cursor-store",
            "file",
            "--batch-size",
            "500",
            "--db-read-timeout-seconds",
            "3",
        ])
    };
    // Nobody reads stdout at first: the pipe fills, the exporter waits for it, and the server
    // blocks sending rows. Then the backend is stopped and stdout drained.
    let mut child = run()
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    // The first rows have arrived: the export's streaming query is the one running.
    let mut head = vec![0; 1024];
    out.read_exact(&mut head)
        .await
        .expect("the export starts printing rows");
    let observer = connect(&db.url).await;
    let pid: i32 = observer
        .query_one(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND backend_type = 'client backend' \
             AND query LIKE '%ORDER BY created_at, id%'",
            &[&app],
        )
        .await
        .expect("the export's query is in pg_stat_activity")
        .get(0);
    // Stopped once the backend blocks sending rows (the pipe is full, the exporter has stopped
    // reading): poll for that instead of guessing how long it takes; go on after 10 s anyway.
    let waiting = Instant::now();
    while waiting.elapsed() < Duration::from_secs(10) {
        let event: Option<String> = observer
            .query_one(
                "SELECT wait_event FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        if event.as_deref() == Some("ClientWrite") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(pid, "STOP").await;
    let mut stdout = String::from_utf8(head).unwrap();
    let mut stderr = String::new();
    let started = Instant::now();
    let (_, _, status) = tokio::join!(
        out.read_to_string(&mut stdout),
        err.read_to_string(&mut stderr),
        child.wait()
    );
    let took = started.elapsed();
    signal(pid, "CONT").await;
    assert_eq!(status.unwrap().code(), Some(1), "{stderr}");
    assert!(
        took < Duration::from_secs(3 + 10),
        "the run took {took:?} after the stop"
    );
    assert!(stderr.contains("sent nothing for 3 s"), "{stderr}");
    let first = ndjson_ids(&stdout);
    assert!(
        !first.is_empty() && first.len() < all.len(),
        "{} rows before the stop",
        first.len()
    );

    let second = run().run().await;
    second.assert_success();
    let mut delivered = first;
    delivered.extend(ndjson_ids(&second.stdout));
    assert_eq!(
        delivered, all,
        "the second run continues exactly after the first"
    );
}

async fn signal(pid: i32, name: &str) {
    let status = tokio::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(
        status.success(),
        "kill -{name} {pid} (the test must be allowed to signal the server's processes)"
    );
}

#[tokio::test]
async fn through_pgbouncer_in_transaction_mode_full_and_incremental_runs_are_exact() {
    let db = TestDb::on(&required("TEST_TLS_DATABASE_URL")).await;
    db.insert_generated(2_500, 4, 3, "2026-01-22 04:00:00+00")
        .await;
    let bouncer = with_database(&required("TEST_PGBOUNCER_URL"), &db.name());
    // Four other clients share the two server connections, so each transaction of the exporter may
    // land on a different one.
    let mut noise = Vec::new();
    for _ in 0..4 {
        let url = bouncer.clone();
        noise.push(tokio::spawn(async move {
            let client = connect(&url).await;
            loop {
                let _ = client.simple_query("SELECT pg_sleep(0.01)").await;
            }
        }));
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        Export::new(dir.path())
            .db(&bouncer)
            .args(["--cursor-store", "file", "--batch-size", "100"])
            .args(extra.iter().copied())
    };
    let full = run(&[]).run().await;
    full.assert_success();
    assert_eq!(ndjson_ids(&full.stdout), db.ordered_ids(None).await);

    db.insert_generated(1_000, 4, 1, "2026-02-01 00:00:00+00")
        .await;
    let mut incremental = Vec::new();
    for _ in 0..4 {
        let out = run(&["--limit", "300"]).run().await;
        out.assert_success();
        incremental.extend(ndjson_ids(&out.stdout));
    }
    noise.iter().for_each(|task| task.abort());
    let all = db.ordered_ids(None).await;
    assert_eq!(
        incremental,
        all[2_500..],
        "incremental runs through PgBouncer"
    );
}

/// Every ASCII punctuation character and a space.
const SPECIAL: &str = "Zq9k !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~Xw7p";

#[tokio::test]
async fn passwords_with_special_characters_connect_percent_encoded_and_never_show() {
    let db = TestDb::on(&required("TEST_TLS_DATABASE_URL")).await;
    db.insert_generated(2, 1, 1, "2026-01-22 04:00:00+00").await;
    let role = format!("special_{}", &db.name()[8..16]);
    let admin = db.client().await;
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{}'; GRANT SELECT ON provider_guardrail_followup TO {role}",
            SPECIAL.replace('\'', "''")
        ))
        .await
        .unwrap();
    let (host, port) = tls_server();
    let name = db.name();
    let encoded: String = url::form_urlencoded::byte_serialize(SPECIAL.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let home = tempfile::tempdir().unwrap();
    let good = format!("postgres://{role}:{encoded}@{host}:{port}/{name}");
    let out = export(&good, home.path()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ndjson_ids(&out.stdout).len(), 2);
    let quoted = SPECIAL.replace('\\', "\\\\").replace('\'', "\\'");
    let kv = format!("host={host} port={port} dbname={name} user={role} password='{quoted}'");
    assert_eq!(export(&kv, home.path()).await.code, 0);

    let raw = format!("postgres://{role}:{SPECIAL}@{host}:{port}/{name}");
    let refused = export(&raw, home.path()).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("percent-encode"),
        "{}",
        refused.stderr
    );

    // A failing run with the password in the URL, in text and JSON logs and to Slack.
    let slack = crate::helpers::faulty::FaultyServer::start(vec![]).await;
    let missing = format!("postgres://{role}:{encoded}@{host}:{port}/no_such_db");
    for (url, format) in [(&missing, "text"), (&missing, "json"), (&raw, "json")] {
        let out = Export::new(home.path())
            .db(url)
            .args(["--log-format", format])
            .env("HOME", home.path().to_str().unwrap())
            .env("GUARDRAIL_EXPORT_SLACK_WEBHOOK", &slack.url)
            .run()
            .await;
        assert_ne!(out.code, 0);
        let slack_text = slack
            .received()
            .last()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .unwrap_or_default();
        for text in [&out.stderr, &out.stdout, &slack_text] {
            for fragment in ["Zq9k", "Xw7p", &encoded[4..20]] {
                assert!(!text.contains(fragment), "`{fragment}` shown in {text}");
            }
        }
    }
    assert!(
        slack.received().len() >= 2,
        "Slack heard of the failed runs"
    );
}

#[tokio::test]
async fn sigterm_while_connecting_stops_the_run_at_once() {
    let (port, accepted) = silent_server_counting().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://exporter@127.0.0.1:{port}/app?connect_timeout=60");
    let child = Export::new(dir.path())
        .db(&url)
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The signal must find the run connecting: wait until its connection reached the server.
    let waiting = Instant::now();
    while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            waiting.elapsed() < Duration::from_secs(20),
            "the export never connected to 127.0.0.1:{port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(i32::try_from(child.id().unwrap()).unwrap(), "TERM").await;
    let started = Instant::now();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains("stopped by SIGTERM: nothing was delivered yet"),
        "{stderr}"
    );
}
