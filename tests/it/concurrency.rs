//! The webhook sink with several batches in flight (`--webhook-concurrency`): receivers that
//! answer out of order, refuse one batch while later ones are in flight, or fail every third
//! request; a signal mid-run. The cursor must always stand at the last row of the contiguous
//! prefix of acknowledged batches, and a refused batch's dead-letter file hold exactly its rows.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rand::RngExt;

use crate::helpers::faulty::{Fault, FaultyServer, Received, terminate_mid_run};
use crate::helpers::{Export, TestDb, ndjson_ids, seeded_rng};

const ROWS: usize = 1000;
const BATCH: usize = 50;
const BATCHES: usize = ROWS / BATCH;

/// 1000 rows; the export sends them in 20 batches of 50.
async fn twenty_batches() -> TestDb {
    let db = TestDb::new().await;
    db.insert_generated(ROWS as i64, 5, 3, "2026-01-22 04:00:00+00")
        .await;
    db
}

/// The export to `server`, with the default concurrency unless `concurrency` is given.
fn export(dir: &Path, db: &TestDb, server: &FaultyServer, concurrency: Option<u32>) -> Export {
    let export = Export::new(dir).db(&db.url).args([
        "--sink",
        "webhook",
        "--webhook-url",
        &server.url,
        "--batch-size",
        &BATCH.to_string(),
        "--cursor-store",
        "file",
        "--webhook-timeout-seconds",
        "5",
        "--dead-letter-dir",
        "dead",
        "--audit-window-seconds",
        "0",
    ]);
    match concurrency {
        Some(n) => export.args(["--webhook-concurrency", &n.to_string()]),
        None => export,
    }
}

/// The cursor file's `cursorId` (the last row it covers) and `totalRows`.
fn cursor(dir: &Path) -> (Option<String>, u64) {
    let bytes = std::fs::read(dir.join("guardrail_followups_cursor.json")).expect("a cursor file");
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    (
        value["cursorId"].as_str().map(str::to_owned),
        value["totalRows"].as_u64().unwrap(),
    )
}

/// Which batch (0-based) a request carries, from its first row.
struct Batches {
    index: HashMap<String, usize>,
    ordered: Vec<String>,
}

impl Batches {
    async fn of(db: &TestDb) -> Batches {
        let ordered = db.ordered_ids(None).await;
        let index = ordered
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i / BATCH))
            .collect();
        Batches { index, ordered }
    }

    fn of_request(&self, request: &Received) -> usize {
        let ids = request.ids();
        let batch = self.index[&ids[0]];
        assert_eq!(ids, self.rows(batch), "a request holds one whole batch");
        batch
    }

    fn rows(&self, batch: usize) -> Vec<String> {
        self.ordered[batch * BATCH..(batch + 1) * BATCH].to_vec()
    }

    /// How many times each batch was acknowledged.
    fn acknowledged(&self, server: &FaultyServer) -> Vec<usize> {
        let mut counts = vec![0; BATCHES];
        for request in server.received().iter().filter(|r| r.acknowledged) {
            counts[self.of_request(request)] += 1;
        }
        counts
    }
}

/// A rule that answers by batch, shared with the test through the map it was built from.
fn by_batch(
    batches: &Batches,
    answer: impl Fn(usize, usize) -> Fault + Send + Sync + 'static,
) -> impl Fn(usize, &Received) -> Fault + Send + Sync + 'static {
    let index = batches.index.clone();
    move |n, request| answer(n, index[&request.ids()[0]])
}

#[tokio::test]
async fn a_receiver_answering_out_of_order_still_moves_the_cursor_over_the_batches_in_order() {
    let (mut rng, seed) = seeded_rng("a_receiver_answering_out_of_order");
    let db = twenty_batches().await;
    let batches = Batches::of(&db).await;
    // Random delays per batch; the first batch answers last of its window, so later batches
    // are always acknowledged before it.
    let mut delays: Vec<u64> = (0..BATCHES).map(|_| rng.random_range(0..250)).collect();
    delays[0] = 600;
    let server = FaultyServer::with_rule(by_batch(&batches, move |_, batch| {
        Fault::Slow(Duration::from_millis(delays[batch]))
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    export(dir.path(), &db, &server, None)
        .run()
        .await
        .assert_success();

    assert_eq!(
        batches.acknowledged(&server),
        vec![1; BATCHES],
        "each batch acknowledged once ({seed})"
    );
    let received = server.received();
    let answered = |batch: usize| {
        received
            .iter()
            .find(|r| batches.of_request(r) == batch)
            .and_then(|r| r.answered)
            .unwrap()
    };
    assert!(
        (1..4).all(|later| answered(later) < answered(0)),
        "batches 1 to 3 were answered before batch 0 ({seed})"
    );
    assert_eq!(
        server.peak_in_flight(),
        4,
        "the default concurrency: four batches in flight ({seed})"
    );
    assert_eq!(
        cursor(dir.path()),
        (batches.ordered.last().cloned(), ROWS as u64),
        "{seed}"
    );
}

#[tokio::test]
async fn concurrency_one_sends_one_batch_at_a_time() {
    let db = twenty_batches().await;
    let server = FaultyServer::with_rule(|_, _| Fault::Slow(Duration::from_millis(20))).await;
    let dir = tempfile::tempdir().unwrap();
    export(dir.path(), &db, &server, Some(1))
        .run()
        .await
        .assert_success();
    assert_eq!(server.peak_in_flight(), 1);
    assert_eq!(server.acknowledged_ids(), db.ordered_ids(None).await);
}

#[tokio::test]
async fn a_batch_refused_while_the_next_two_are_in_flight_is_kept_and_the_cursor_stays_before_it() {
    let db = twenty_batches().await;
    let batches = Batches::of(&db).await;
    let k = 5;
    // Batch k is refused after a while; k+1 and k+2 are answered later still, so they are in
    // flight when the refusal arrives; every other batch at once.
    let server = FaultyServer::with_rule(by_batch(&batches, move |_, batch| match batch {
        b if b == k => Fault::Late(Duration::from_millis(300), 422),
        b if b == k + 1 || b == k + 2 => Fault::Slow(Duration::from_millis(1200)),
        _ => Fault::status(200),
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path(), &db, &server, None).run().await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("answered 422"), "{}", out.stderr);
    assert!(
        out.stderr.contains("the cursor stays before this batch"),
        "{}",
        out.stderr
    );

    let received = server.received();
    let request = |batch: usize| {
        let found: Vec<_> = received
            .iter()
            .filter(|r| batches.of_request(r) == batch)
            .collect();
        assert_eq!(found.len(), 1, "batch {batch} was sent once");
        found[0].clone()
    };
    let refused = request(k);
    for later in [k + 1, k + 2] {
        let later = request(later);
        assert!(
            later.at < refused.answered.unwrap() && refused.answered < later.answered,
            "batch {later:?} was in flight when batch {k} was refused"
        );
        assert!(
            later.acknowledged,
            "the batches in flight were awaited, not abandoned"
        );
    }
    let sent: Vec<_> = received.iter().map(|r| batches.of_request(r)).collect();
    assert!(
        sent.iter().all(|b| *b <= k + 3),
        "no batch was started after the refusal: {sent:?}"
    );

    // The cursor covers exactly batches 0..k.
    assert_eq!(
        cursor(dir.path()),
        (
            Some(batches.ordered[k * BATCH - 1].clone()),
            (k * BATCH) as u64
        )
    );
    // One dead-letter file, holding exactly batch k's rows.
    let dead: Vec<_> = std::fs::read_dir(dir.path().join("dead"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let key = refused.header("idempotency-key").unwrap();
    assert_eq!(
        dead,
        [dir.path()
            .join("dead")
            .join(format!("guardrail-followups-refused-{key}.ndjson"))]
    );
    assert_eq!(
        ndjson_ids(&std::fs::read_to_string(&dead[0]).unwrap()),
        batches.rows(k)
    );

    // Once the receiver accepts, the next run resends from batch k on; k+1.. again at most.
    let healthy = FaultyServer::start(vec![]).await;
    export(dir.path(), &db, &healthy, None)
        .run()
        .await
        .assert_success();
    let resent = batches.acknowledged(&healthy);
    assert_eq!(resent[..k], vec![0; k], "nothing before the refused batch");
    assert_eq!(resent[k..], vec![1; BATCHES - k]);
    assert_eq!(
        cursor(dir.path()),
        (batches.ordered.last().cloned(), ROWS as u64)
    );
}

#[tokio::test]
async fn a_receiver_failing_every_third_request_with_503_gets_every_batch_once() {
    let db = twenty_batches().await;
    let batches = Batches::of(&db).await;
    let server = FaultyServer::with_rule(|n, _| {
        if n % 3 == 2 {
            Fault::status(503)
        } else {
            Fault::Slow(Duration::from_millis(30))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path(), &db, &server, None).run().await;
    out.assert_success();
    assert!(out.stderr.contains("answered 503"), "{}", out.stderr);
    let received = server.received();
    let failed = received.iter().filter(|r| !r.acknowledged).count();
    assert_eq!(failed, received.len() / 3, "every third request failed");
    assert_eq!(batches.acknowledged(&server), vec![1; BATCHES]);
    assert_eq!(
        cursor(dir.path()),
        (batches.ordered.last().cloned(), ROWS as u64)
    );
}

#[tokio::test]
async fn sigterm_with_batches_in_flight_lets_them_finish_and_the_cursor_holds_them() {
    let db = twenty_batches().await;
    let batches = Batches::of(&db).await;
    let server = FaultyServer::with_rule(|_, _| Fault::Slow(Duration::from_millis(400))).await;
    let dir = tempfile::tempdir().unwrap();
    let out = terminate_mid_run(&export(dir.path(), &db, &server, None), &server).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("batches in flight"), "{stderr}");
    // Every batch sent was awaited and acknowledged, and they are a prefix of the batches.
    let received = server.received();
    assert!(received.iter().all(|r| r.acknowledged), "none abandoned");
    let acknowledged = batches.acknowledged(&server);
    let sent = acknowledged.iter().take_while(|n| **n == 1).count();
    assert!(
        acknowledged[sent..].iter().all(|n| *n == 0),
        "{acknowledged:?}"
    );
    assert!(
        (1..BATCHES).contains(&sent),
        "the run stopped before the end"
    );
    assert_eq!(
        cursor(dir.path()),
        (
            Some(batches.ordered[sent * BATCH - 1].clone()),
            (sent * BATCH) as u64
        )
    );
    // The next run sends the rest, each batch once in all.
    export(dir.path(), &db, &server, None)
        .run()
        .await
        .assert_success();
    assert_eq!(batches.acknowledged(&server), vec![1; BATCHES]);
}

/// The exporter's peak resident memory (VmHWM), sampled from `/proc` until it exits.
async fn peak_rss_kib(export: &Export) -> u64 {
    let mut child = export
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id().unwrap());
    let mut peak = 0;
    let started = std::time::Instant::now();
    loop {
        // A zombie's status has no Vm lines: the last live reading stands.
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
                .await
                .unwrap();
            assert!(status.success(), "{stderr}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the export hung"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(peak > 0, "VmHWM was read");
    peak
}

#[tokio::test]
async fn four_batches_in_flight_cost_at_most_three_more_batches_of_memory() {
    // 16,000 rows of ~4 kB: 32 batches of ~2 MB against a receiver that answers only once the
    // exporter has its whole concurrency in flight, so four really are in flight at once even
    // on a loaded machine.
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, notes, created_at)
             SELECT gen_random_uuid(), 'p-' || (i % 7), 'pause', repeat(md5(i::text), 128),
                    timestamptz '2026-01-22 00:00:00+00' + make_interval(secs => i)
             FROM generate_series(1, 16000) i",
        )
        .await
        .unwrap();
    let mut peaks = Vec::new();
    let mut batch_bytes = 0;
    for concurrency in [1, 4] {
        let server = FaultyServer::with_rule(move |_, _| {
            Fault::Together(concurrency, Duration::from_secs(20))
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let export = Export::new(dir.path()).db(&db.url).args([
            "--sink",
            "webhook",
            "--webhook-url",
            &server.url,
            "--batch-size",
            "500",
            "--webhook-concurrency",
            &concurrency.to_string(),
            "--audit-window-seconds",
            "0",
            "--quiet",
        ]);
        peaks.push(peak_rss_kib(&export).await);
        assert_eq!(server.peak_in_flight(), concurrency);
        assert_eq!(server.acknowledged_ids().len(), 16_000);
        batch_bytes = server
            .received()
            .iter()
            .map(|r| r.body.len())
            .max()
            .unwrap() as u64;
    }
    let batch_kib = batch_bytes / 1024;
    let (one, four) = (peaks[0], peaks[1]);
    eprintln!(
        "peak RSS: {one} KiB with one batch in flight, {four} KiB with four; a batch is {batch_kib} KiB"
    );
    // Each batch in flight holds its NDJSON and its request body (two copies of ~a batch), so
    // three more in flight may cost six batches' bytes; 8 MiB covers the allocator's slack.
    // The 32-batch backlog itself (~64 MiB) must not show.
    assert!(
        four <= one + 6 * batch_kib + 8 * 1024,
        "{four} KiB with four in flight against {one} KiB with one (batches of {batch_kib} KiB)"
    );
}
