//! The progress display, on a pseudo-terminal as a person at a terminal sees it: the phase the
//! run is in while the database keeps it waiting, then a bar with a rate and an ETA, the audit's
//! phase; and none of it with `--log-format json`, whose every line stays JSON.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use nix::pty::{Winsize, openpty};

use crate::helpers::faulty::{Fault, FaultyServer};
use crate::helpers::{Export, TestDb};

const BATCHES: usize = 30;

/// Runs `export` with its stdout and stderr on a pseudo-terminal; its exit code and all it
/// drew there.
async fn on_a_terminal(export: &Export, meanwhile: impl Future<Output = ()>) -> (i32, String) {
    let size = Winsize {
        ws_row: 40,
        ws_col: 160,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None).expect("a pseudo-terminal");
    let mut command = export.command();
    command
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave));
    let mut child = command.spawn().expect("export binary started");
    // The terminal reads end (EIO) once no process holds its other side open.
    drop(command);
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut drawn = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buffer) {
            drawn.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&drawn).into_owned()
    });
    meanwhile.await;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("export finished within a minute")
        .unwrap();
    (status.code().unwrap_or(-1), reader.join().unwrap())
}

fn export(dir: &std::path::Path, db: &TestDb, server: &FaultyServer) -> Export {
    Export::new(dir).db(&db.url).args([
        "--sink",
        "webhook",
        "--webhook-url",
        &server.url,
        "--webhook-concurrency",
        "1",
        "--batch-size",
        "100",
        "--cursor-store",
        "file",
    ])
}

/// Each batch takes a while to be acknowledged, the last one longer: long enough to lock the
/// table before the audit reads it.
async fn slow_receiver() -> FaultyServer {
    FaultyServer::with_rule(|n, _| {
        Fault::Slow(Duration::from_millis(if n + 1 == BATCHES {
            800
        } else {
            120
        }))
    })
    .await
}

/// An exclusive lock on the table, held until [`Lock::release`]: every query of the export
/// waits meanwhile.
struct Lock(tokio_postgres::Client);

impl Lock {
    async fn take(db: &TestDb) -> Lock {
        let client = db.client().await;
        client
            .batch_execute("BEGIN; LOCK TABLE provider_guardrail_followup IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        Lock(client)
    }

    async fn release_after(self, hold: Duration) {
        tokio::time::sleep(hold).await;
        self.0.batch_execute("COMMIT").await.unwrap();
    }
}

#[tokio::test]
async fn a_terminal_shows_the_phases_then_a_bar_with_a_rate_and_an_eta() {
    let db = TestDb::new().await;
    db.insert_generated(BATCHES as i64 * 100, 1, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let server = slow_receiver().await;
    // The database keeps the run waiting from the start…
    let lock = Lock::take(&db).await;
    let meanwhile = async {
        lock.release_after(Duration::from_millis(2500)).await;
        // …and again once the last batch is on its way, just before the audit.
        while server.received().len() < BATCHES {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Lock::take(&db)
            .await
            .release_after(Duration::from_millis(2500))
            .await;
    };
    let (code, drawn) = on_a_terminal(&export(dir.path(), &db, &server), meanwhile).await;
    assert_eq!(code, 0, "{drawn}");
    assert_eq!(server.received().len(), BATCHES, "{drawn}");
    for phase in [
        "counting the rows to export in 127.0.0.1:",
        "late-row audit: comparing what was delivered over the last 24 hours with 127.0.0.1:",
        "exported 3000 rows",
    ] {
        assert!(drawn.contains(phase), "no `{phase}` in:\n{drawn}");
    }
    let bar = regex::Regex::new(
        r"exporting \[[=> ]{30}\] [\d,]+/3,000 rows  (\d+) rows/s  ETA (\d+ seconds?|\d+ minutes?)",
    )
    .unwrap();
    let rates: Vec<u64> = bar
        .captures_iter(&drawn)
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert!(
        !rates.is_empty(),
        "no bar with a rate and an ETA in:\n{drawn}"
    );
    // The rate is measured from the first row, not from the start of the run: 100 rows per
    // ~120 ms is under 1,000 rows/s, and the waits for the lock do not drag it towards 0.
    for rate in &rates {
        assert!((200..=1_000).contains(rate), "rate {rate} in:\n{drawn}");
    }
}

#[tokio::test]
async fn with_json_logs_a_terminal_gets_json_lines_only() {
    let db = TestDb::new().await;
    db.insert_generated(BATCHES as i64 * 100, 1, 1, "2026-01-22 04:00:00+00")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let server = slow_receiver().await;
    let lock = Lock::take(&db).await;
    let (code, drawn) = on_a_terminal(
        &export(dir.path(), &db, &server).args(["--log-format", "json"]),
        lock.release_after(Duration::from_millis(1500)),
    )
    .await;
    assert_eq!(code, 0, "{drawn}");
    let lines: Vec<&str> = drawn
        .split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON line: {line:?}\n{drawn}"
        );
    }
    assert!(drawn.contains("exported 3000 rows"), "{drawn}");
}
