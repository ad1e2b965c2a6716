//! `reconcile`: PostgreSQL → exporter → gateway → lake (a folder, or S3 on the test server),
//! then the lake compared with the source per UTC day, damaged, repaired.

use std::collections::BTreeMap;
use std::path::Path;

use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde_json::Value;

use crate::helpers::cli::Output;
use crate::helpers::faulty::FaultyServer;
use crate::helpers::gateway::{GatewayProcess, parse_ndjson};
use crate::helpers::s3::{TestBucket, list_keys};
use crate::helpers::{Export, TestDb};

const SECRET: &str = "reconcile-secret";

/// 3,000 rows, one every 173 s from 2026-01-10: about six UTC days.
async fn insert_six_days(db: &TestDb) {
    db.client()
        .await
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, provider_name, action, notes, created_at)
             SELECT gen_random_uuid(), 'provider-' || (i % 7), 'Provider', 'pause', 'note ' || i,
                    timestamptz '2026-01-10 00:00:00+00' + make_interval(secs => i * 173)
             FROM generate_series(0, 2999) AS i",
        )
        .await
        .expect("insert rows over six days");
}

/// The six days, exported through a gateway into a folder lake.
struct SixDays {
    db: TestDb,
    /// The test's folder: the lake, the cursor.
    dir: tempfile::TempDir,
    lake: std::path::PathBuf,
    lake_arg: String,
    gateway: GatewayProcess,
}

async fn six_days_in_a_lake() -> SixDays {
    let db = TestDb::new().await;
    insert_six_days(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_arg = lake.to_str().unwrap().to_owned();
    let gateway = GatewayProcess::start(&lake_arg, &["--secret", SECRET]).await;
    export_to(dir.path(), &db, &gateway).await;
    SixDays {
        db,
        dir,
        lake,
        lake_arg,
        gateway,
    }
}

/// `export --sink webhook` of everything into the gateway, batches of 100.
async fn export_to(dir: &Path, db: &TestDb, gateway: &GatewayProcess) {
    export_in_batches_of(100, dir, db, gateway).await;
}

async fn export_in_batches_of(size: u64, dir: &Path, db: &TestDb, gateway: &GatewayProcess) {
    Export::new(dir)
        .db(&db.url)
        .args(sink(gateway))
        .args(["--batch-size", &size.to_string()])
        .args(["--cursor-store", "file", "--quiet"])
        .run()
        .await
        .assert_success();
}

fn sink(gateway: &GatewayProcess) -> Vec<String> {
    [
        "--sink",
        "webhook",
        "--webhook-url",
        &gateway.url(),
        "--webhook-secret",
        SECRET,
    ]
    .map(String::from)
    .to_vec()
}

fn reconcile(dir: &Path, db: &TestDb, lake: &str) -> Export {
    Export::subcommand(dir, &["reconcile", "--lake", lake]).db(&db.url)
}

async fn reconcile_json(command: Export) -> (i32, Value) {
    let out = command.args(["--json"]).run().await;
    let report = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("--json prints one JSON object ({e}): {out:?}"));
    (out.code, report)
}

/// Rows per UTC day of `createdAt`.
fn days_of(rows: &[Value]) -> BTreeMap<String, u64> {
    let mut days = BTreeMap::new();
    for row in rows {
        let day = row["createdAt"].as_str().unwrap()[..10].to_owned();
        *days.entry(day).or_default() += 1;
    }
    days
}

/// `(day, source rows, lake rows)` of each line of the text report's table.
fn table(out: &Output) -> Vec<(String, u64, u64)> {
    out.stdout
        .lines()
        .filter(|line| line.starts_with("20"))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (
                words[0].to_owned(),
                words[1].parse().unwrap(),
                words[2].parse().unwrap(),
            )
        })
        .collect()
}

fn lake_objects(lake: &Path) -> Vec<std::path::PathBuf> {
    let mut objects = Vec::new();
    for folder in std::fs::read_dir(lake.join("guardrail_followups")).unwrap() {
        for object in std::fs::read_dir(folder.unwrap().path()).unwrap() {
            objects.push(object.unwrap().path());
        }
    }
    objects.sort();
    objects
}

/// Writes `bytes` at `key` in the bucket, as a hand or a fault would.
async fn put(bucket: &TestBucket, key: &str, bytes: Vec<u8>) {
    bucket
        .store
        .put(&ObjectPath::from(key), bytes.into())
        .await
        .unwrap();
}

/// A row of the feed that the source does not have.
fn foreign_row(created_at: &str) -> String {
    format!(
        r#"{{"followUpId":"{}","providerId":"provider-x","providerName":null,"action":"pause","notes":null,"platformContext":null,"conversionCursor":null,"conversionHref":null,"createdAt":"{created_at}"}}"#,
        uuid::Uuid::new_v4()
    )
}

#[tokio::test]
async fn reconcile_names_the_days_a_damaged_lake_lacks_and_repair_restores_them() {
    let SixDays {
        db,
        dir,
        lake,
        lake_arg,
        gateway,
    } = six_days_in_a_lake().await;

    let full = reconcile(dir.path(), &db, &lake_arg).run().await;
    full.assert_success();
    assert_eq!(
        full.stdout,
        "reconcile: all 7 days match by content (all rows): source 3000 follow-ups, lake 3000 \
         follow-ups in 3000 lines of 30 objects\n"
    );

    // One object of the second day goes; a foreign row is appended to an object of the fourth
    // day, and another lands in a new object of the last day.
    let objects = lake_objects(&lake);
    let deleted = objects
        .iter()
        .find(|o| o.to_str().unwrap().contains("dt=2026-01-11"))
        .unwrap();
    let missing = days_of(&parse_ndjson(&std::fs::read(deleted).unwrap()));
    std::fs::remove_file(deleted).unwrap();
    let appended = objects
        .iter()
        .find(|o| o.to_str().unwrap().contains("dt=2026-01-13"))
        .unwrap();
    let appended_row = foreign_row("2026-01-13T05:00:00.000000Z");
    let mut bytes = std::fs::read(appended).unwrap();
    bytes.extend_from_slice(format!("{appended_row}\n").as_bytes());
    std::fs::write(appended, bytes).unwrap();
    let foreign_day = lake.join("guardrail_followups/dt=2026-01-16");
    std::fs::create_dir_all(&foreign_day).unwrap();
    let added_row = foreign_row("2026-01-16T03:00:00.000000Z");
    std::fs::write(
        foreign_day.join("gf1-00000000000000000000000000000000.ndjson"),
        format!("{added_row}\n"),
    )
    .unwrap();
    let foreign_ids: Vec<String> = [&appended_row, &added_row]
        .iter()
        .map(|row| {
            serde_json::from_str::<Value>(row).unwrap()["followUpId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let source_days: BTreeMap<String, u64> = {
        let rows = db
            .client()
            .await
            .query(
                "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*) \
                 FROM provider_guardrail_followup GROUP BY 1",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap()))
            .collect()
    };
    let mut expected: Vec<(String, u64, u64)> = missing
        .iter()
        .map(|(day, n)| (day.clone(), source_days[day], source_days[day] - n))
        .collect();
    for day in ["2026-01-13", "2026-01-16"] {
        expected.push((day.into(), source_days[day], source_days[day] + 1));
    }
    expected.sort();

    let damaged = reconcile(dir.path(), &db, &lake_arg).run().await;
    assert_eq!(damaged.code, 4, "the differences code: {damaged:?}");
    assert_eq!(table(&damaged), expected, "{}", damaged.stdout);
    let missing_count: u64 = missing.values().sum();
    assert!(
        damaged.stdout.contains(&format!(
            "reconcile: {} of 7 days differ (all rows): {missing_count} missing, 2 foreign, 0 stale",
            expected.len()
        )),
        "{}",
        damaged.stdout
    );
    assert!(
        damaged.stdout.contains(
            "--repair delivers the missing and stale follow-ups again and sends tombstones"
        ),
        "{}",
        damaged.stdout
    );

    let (code, report) = reconcile_json(reconcile(dir.path(), &db, &lake_arg)).await;
    assert_eq!(code, 4);
    assert_eq!(report["match"], false);
    assert_eq!(report["sourceRows"], 3000);
    assert_eq!(report["lakeRows"], 3000 - 100 + 2);
    assert_eq!(report["lakeObjects"], 30);
    assert_eq!(report["repair"], Value::Null);
    let days = report["differingDays"].as_array().unwrap();
    assert_eq!(days.len(), expected.len());
    let last = days.last().unwrap();
    assert_eq!(last["day"], "2026-01-16");
    assert_eq!((&last["foreign"], &last["missing"]), (&1.into(), &0.into()));
    assert_eq!(
        days[0]["missing"],
        missing.values().next().copied().unwrap()
    );
    let mut named: Vec<&str> = report["ids"]["foreign"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    let mut foreign_sorted: Vec<&str> = foreign_ids.iter().map(String::as_str).collect();
    foreign_sorted.sort_unstable();
    assert_eq!(named, foreign_sorted);
    assert_eq!(
        report["ids"]["missing"].as_array().unwrap().len(),
        100,
        "every missing id, up to the kept 1000"
    );

    // The repair delivers the missing follow-ups again and sends tombstones for the two
    // foreign ones; the lake keeps every object it had.
    let cursor_file = dir.path().join("guardrail_followups_cursor.json");
    let cursor_before = std::fs::read(&cursor_file).ok();
    let repaired = reconcile(dir.path(), &db, &lake_arg)
        .args(sink(&gateway))
        .args(["--repair"])
        .run()
        .await;
    assert_eq!(repaired.code, 0, "{repaired:?}");
    assert!(
        repaired.stdout.contains(
            "repair: delivered 100 follow-ups again through the webhook sink, sent 2 tombstones \
             for follow-ups deleted from the source"
        ),
        "{}",
        repaired.stdout
    );
    for id in &foreign_ids {
        assert!(repaired.stdout.contains(id), "{id}: {}", repaired.stdout);
    }
    assert!(
        repaired
            .stdout
            .contains("reconcile: all 7 days match by content (all rows): source 3000 follow-ups"),
        "{}",
        repaired.stdout
    );
    assert!(
        appended.exists(),
        "no object leaves the lake for a foreign row"
    );
    let tombstones: Vec<Value> = lake_objects(&lake)
        .iter()
        .flat_map(|o| parse_ndjson(&std::fs::read(o).unwrap()))
        .filter(|line| line.get("deletedAt").is_some())
        .collect();
    let mut buried: Vec<&str> = tombstones
        .iter()
        .map(|t| t["followUpId"].as_str().unwrap())
        .collect();
    buried.sort_unstable();
    assert_eq!(
        buried, foreign_sorted,
        "one tombstone per foreign follow-up"
    );
    assert_eq!(
        std::fs::read(&cursor_file).ok(),
        cursor_before,
        "the cursor is not touched"
    );

    // The next reconcile finds nothing, with no step by hand.
    let (code, after) = reconcile_json(reconcile(dir.path(), &db, &lake_arg)).await;
    assert_eq!(code, 0, "{after}");
    assert_eq!(after["differingDays"], Value::Array(vec![]));
    assert_eq!(after["sourceRows"], 3000);
    assert_eq!(after["lakeRows"], 3000);

    // A repair with nothing to do moves nothing.
    let (code, again) = reconcile_json(
        reconcile(dir.path(), &db, &lake_arg)
            .args(sink(&gateway))
            .args(["--repair"]),
    )
    .await;
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["repair"]["quarantined"], Value::Array(vec![]));
}

#[tokio::test]
async fn since_and_until_limit_the_comparison_to_their_days() {
    let SixDays {
        db,
        dir,
        lake,
        lake_arg,
        gateway: _gateway,
    } = six_days_in_a_lake().await;
    for object in lake_objects(&lake) {
        if object.to_str().unwrap().contains("dt=2026-01-10") {
            std::fs::remove_file(object).unwrap();
        }
    }
    let (code, report) = reconcile_json(reconcile(dir.path(), &db, &lake_arg).args([
        "--since",
        "2026-01-12",
        "--until",
        "2026-01-14",
    ]))
    .await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["days"], 2);
    assert_eq!(report["since"], "2026-01-12T00:00:00.000000Z");
    let (code, report) =
        reconcile_json(reconcile(dir.path(), &db, &lake_arg).args(["--until", "2026-01-11"])).await;
    assert_eq!(code, 4);
    assert_eq!(report["differingDays"][0]["day"], "2026-01-10");
    assert_eq!(report["differingDays"][0]["lakeRows"], 0);
}

#[tokio::test]
async fn reconcile_reads_an_s3_lake() {
    let db = TestDb::new().await;
    insert_six_days(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = TestBucket::new().await;
    let lake = format!("s3://{}/raw", bucket.name);
    let gateway = GatewayProcess::start(
        &lake,
        &["--secret", SECRET, "--s3-endpoint", &bucket.endpoint],
    )
    .await;
    export_to(dir.path(), &db, &gateway).await;
    let s3 = |command: Export| command.args(["--s3-endpoint", &bucket.endpoint]);

    let (code, report) = reconcile_json(s3(reconcile(dir.path(), &db, &lake))).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (report["lakeObjects"].as_u64(), report["lakeRows"].as_u64()),
        (Some(30), Some(3000))
    );

    let key = list_keys(&bucket.name)
        .await
        .into_iter()
        .find(|k| k.contains("dt=2026-01-13"))
        .unwrap();
    let rows = parse_ndjson(&bucket.get(&key).await.unwrap());
    bucket
        .store
        .delete(&ObjectPath::from(key.as_str()))
        .await
        .unwrap();
    let (code, report) = reconcile_json(s3(reconcile(dir.path(), &db, &lake))).await;
    assert_eq!(code, 4);
    let named: BTreeMap<String, u64> = report["differingDays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                d["missing"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(named, days_of(&rows));

    // A foreign row appended to another object: --repair sends its tombstone and delivers the
    // missing rows again through the gateway; every object stays.
    let appended = list_keys(&bucket.name)
        .await
        .into_iter()
        .find(|k| k.contains("dt=2026-01-14"))
        .unwrap();
    let foreign = foreign_row("2026-01-14T06:00:00.000000Z");
    let mut bytes = bucket.get(&appended).await.unwrap();
    bytes.extend_from_slice(format!("{foreign}\n").as_bytes());
    put(&bucket, &appended, bytes).await;
    let repair = |command: Export| s3(command.args(sink(&gateway)).args(["--repair"]));
    let (code, repaired) = reconcile_json(repair(reconcile(dir.path(), &db, &lake))).await;
    assert_eq!(code, 0, "{repaired}");
    assert_eq!(repaired["repair"]["quarantined"], serde_json::json!([]));
    let foreign_id = serde_json::from_str::<Value>(&foreign).unwrap()["followUpId"].clone();
    assert_eq!(
        repaired["repair"]["before"]["ids"]["foreign"],
        serde_json::json!([{"id": foreign_id, "day": "2026-01-14"}])
    );
    assert_eq!(repaired["repair"]["tombstones"], 1);
    let keys = list_keys(&bucket.name).await;
    assert!(keys.contains(&appended), "{keys:?}");
    let (code, report) = reconcile_json(s3(reconcile(dir.path(), &db, &lake))).await;
    assert_eq!(code, 0, "{report}");

    // Every row of an object changed in place: the rows to deliver again are that object's
    // batch, whose key the bucket holds with other bytes; the repair cuts them otherwise.
    // One whose rows are all of that day, which the repair delivers again as one batch.
    let mut rewritten = None;
    for key in list_keys(&bucket.name).await {
        let text = String::from_utf8(bucket.get(&key).await.unwrap()).unwrap();
        if key.contains("dt=2026-01-11")
            && text.matches("\"createdAt\":\"2026-01-11").count() == 100
        {
            rewritten = Some((key, text));
            break;
        }
    }
    let (key, text) = rewritten.expect("an object of one day");
    put(
        &bucket,
        &key,
        text.replace("\"note ", "\"NOTE ").into_bytes(),
    )
    .await;
    let (code, repaired) = reconcile_json(repair(reconcile(dir.path(), &db, &lake))).await;
    assert_eq!(code, 0, "{repaired}");
    assert_eq!(repaired["repair"]["before"]["stale"], 100, "{repaired}");
    // One more row of the day beside them: the bucket lacks that batch.
    assert_eq!(repaired["repair"]["rows"], 101, "{repaired}");

    let missing_bucket = reconcile(dir.path(), &db, "s3://no-such-bucket-for-reconcile/raw")
        .args(["--s3-endpoint", &bucket.endpoint])
        .run()
        .await;
    assert_eq!(missing_bucket.code, 1, "{missing_bucket:?}");
    assert!(
        missing_bucket
            .stderr
            .contains("cannot list the lake s3://no-such-bucket-for-reconcile/raw"),
        "{}",
        missing_bucket.stderr
    );
}

#[tokio::test]
async fn a_bad_lake_fails_with_what_to_fix() {
    let db = TestDb::new().await;
    insert_six_days(&db).await;
    let dir = tempfile::tempdir().unwrap();

    let scheme = reconcile(dir.path(), &db, "gs://bucket/raw").run().await;
    assert_eq!(scheme.code, 2);
    assert!(
        scheme
            .stderr
            .contains("--lake `gs://bucket/raw`: `gs://` is not supported"),
        "{}",
        scheme.stderr
    );

    let absent = reconcile(dir.path(), &db, "no-such-folder").run().await;
    assert_eq!(absent.code, 2);
    assert!(
        absent
            .stderr
            .contains("the lake folder no-such-folder does not exist. Fix: give --lake"),
        "{}",
        absent.stderr
    );

    let lake = dir.path().join("lake");
    let folder = lake.join("guardrail_followups/dt=2026-01-10");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("gf1-bad.ndjson"),
        format!(
            "{}\n{{\"followUpId\": 3}}\n",
            foreign_row("2026-01-10T00:00:00.000000Z")
        ),
    )
    .unwrap();
    // A line that is not a follow-up row is a finding, not a failure: the report names it.
    let corrupt = reconcile(dir.path(), &db, lake.to_str().unwrap())
        .run()
        .await;
    assert_eq!(corrupt.code, 4, "the differences code: {corrupt:?}");
    assert!(
        corrupt.stdout.contains(
            "  guardrail_followups/dt=2026-01-10/gf1-bad.ndjson: line 2 is not a follow-up row: "
        ),
        "{}",
        corrupt.stdout
    );

    let down = Export::subcommand(dir.path(), &["reconcile", "--lake", lake.to_str().unwrap()])
        .db("postgres://nobody@127.0.0.1:1/app?connect_timeout=2")
        .run()
        .await;
    assert_eq!(
        down.code, 1,
        "the runtime code, not the differences code: {down:?}"
    );
    assert!(down.stderr.contains("127.0.0.1:1"), "{}", down.stderr);
    // The right server, a role that cannot sign in: a runtime failure too.
    let mut wrong = url::Url::parse(&db.url).unwrap();
    wrong.set_username("no_such_role").unwrap();
    wrong.set_password(Some("wrong")).unwrap();
    let refused = Export::subcommand(dir.path(), &["reconcile", "--lake", lake.to_str().unwrap()])
        .db(wrong.as_str())
        .run()
        .await;
    assert_eq!(refused.code, 1, "the runtime code: {refused:?}");
    assert!(
        refused.stderr.contains("no_such_role"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("wrong@"), "{}", refused.stderr);
}

#[tokio::test]
async fn damaged_entries_are_findings_and_repair_moves_them_without_following_links_out_of_the_lake()
 {
    let SixDays {
        db,
        dir,
        lake,
        lake_arg,
        gateway,
    } = six_days_in_a_lake().await;
    let objects = lake_objects(&lake);
    let of_day = |day: &str| {
        objects
            .iter()
            .find(|o| o.to_str().unwrap().contains(&format!("dt={day}")))
            .unwrap()
            .clone()
    };
    let table = lake.join("guardrail_followups");

    // An invalid line among valid ones.
    let invalid = of_day("2026-01-11");
    let mut bytes = std::fs::read(&invalid).unwrap();
    bytes.extend_from_slice(b"{this is not json}\n");
    std::fs::write(&invalid, bytes).unwrap();
    // A truncated object: its last row cut in the middle.
    let truncated = of_day("2026-01-12");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 40]).unwrap();
    // A link to itself.
    let looped = table.join("dt=2026-01-13/gf1-loop.ndjson");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    // Odd names: a line break, bytes that are not UTF-8 (copies of a valid object).
    use std::os::unix::ffi::OsStrExt;
    let copy = std::fs::read(of_day("2026-01-14")).unwrap();
    std::fs::write(table.join("dt=2026-01-14/gf1-odd\nname.ndjson"), &copy).unwrap();
    let not_utf8 = std::ffi::OsStr::from_bytes(b"gf1-\xff\xfe.ndjson");
    std::fs::write(table.join("dt=2026-01-14").join(not_utf8), &copy).unwrap();
    // A dt= folder that is a link to a folder outside the lake.
    let outside = dir.path().join("precious");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        outside.join("unrelated-precious.ndjson"),
        format!("{}\n", foreign_row("2026-01-17T01:00:00.000000Z")),
    )
    .unwrap();
    std::fs::write(outside.join("notes.txt"), "keep me\n").unwrap();
    std::os::unix::fs::symlink(&outside, table.join("dt=2026-01-17")).unwrap();

    let found = reconcile(dir.path(), &db, &lake_arg).run().await;
    assert_eq!(found.code, 4, "{found:?}");
    for (key, says) in [
        (
            "guardrail_followups/dt=2026-01-11/",
            "is not a follow-up row",
        ),
        (
            "guardrail_followups/dt=2026-01-12/",
            "the object is cut off",
        ),
        (
            "guardrail_followups/dt=2026-01-13/gf1-loop.ndjson",
            "a symbolic link",
        ),
        (
            "guardrail_followups/dt=2026-01-14/gf1-odd\\nname.ndjson",
            "holds a line break",
        ),
        (
            "guardrail_followups/dt=2026-01-14/gf1-\u{FFFD}\u{FFFD}.ndjson",
            "not UTF-8",
        ),
        ("guardrail_followups/dt=2026-01-17", "a symbolic link"),
    ] {
        assert!(
            found
                .stdout
                .lines()
                .any(|l| l.starts_with(&format!("  {key}")) && l.contains(says)),
            "{key} ({says}) not named:\n{}",
            found.stdout
        );
    }
    let (code, report) = reconcile_json(reconcile(dir.path(), &db, &lake_arg)).await;
    assert_eq!(code, 4);
    assert_eq!(report["damagedCount"], 6, "{report}");

    let repaired = reconcile(dir.path(), &db, &lake_arg)
        .args(["--repair"])
        .args(sink(&gateway))
        .run()
        .await;
    repaired.assert_success();
    assert!(
        repaired.stdout.contains("guardrail_followups/dt=2026-01-17 -> guardrail_followups_quarantine/dt=2026-01-17.quarantined"),
        "{}",
        repaired.stdout
    );
    // The folder outside the lake is as it was; the link itself went to the quarantine.
    let mut kept: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    kept.sort();
    assert_eq!(kept, ["notes.txt", "unrelated-precious.ndjson"]);
    assert!(
        std::fs::symlink_metadata(
            lake.join("guardrail_followups_quarantine/dt=2026-01-17.quarantined")
        )
        .unwrap()
        .file_type()
        .is_symlink()
    );

    let after = reconcile(dir.path(), &db, &lake_arg).run().await;
    after.assert_success();
    assert!(
        after.stdout.starts_with("reconcile: all 7 days match"),
        "{}",
        after.stdout
    );
}

#[tokio::test]
async fn repair_through_the_file_sink_writes_every_row_it_delivers_over_eleven_days() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO provider_guardrail_followup (id, provider_id, action, created_at)
             SELECT gen_random_uuid(), 'provider-' || (i % 3), 'pause',
                    timestamptz '2026-02-01 00:00:00+00' + make_interval(secs => i * 8640)
             FROM generate_series(0, 109) AS i",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_arg = lake.to_str().unwrap().to_owned();
    let gateway = GatewayProcess::start(&lake_arg, &["--secret", SECRET]).await;
    export_to(dir.path(), &db, &gateway).await;
    // Two objects: days 1 to 10, and day 11. The second is lost; the first gets a line that is
    // not a row, so the repair delivers its ten days (two of them before --since) before it
    // moves it, then the days missing after the move: more than one delivery, and the file
    // must hold them all, not only the last.
    let objects = lake_objects(&lake);
    assert_eq!(objects.len(), 2, "{objects:?}");
    std::fs::remove_file(&objects[1]).unwrap();
    let mut bytes = std::fs::read(&objects[0]).unwrap();
    bytes.extend_from_slice(b"{\"not\": \"a row\"}\n");
    std::fs::write(&objects[0], bytes).unwrap();

    let file = dir.path().join("repaired.ndjson");
    let (code, report) = reconcile_json(reconcile(dir.path(), &db, &lake_arg).args([
        "--since",
        "2026-02-03",
        "--repair",
        "--sink",
        "file",
        "--file-path",
        file.to_str().unwrap(),
    ]))
    .await;
    // The file is not the lake: the days still differ there, and the report says so.
    assert_eq!(code, 4, "{report}");
    assert_eq!(
        report["repair"]["days"].as_array().unwrap().len(),
        11,
        "{report}"
    );
    // Every row the report counts is in the file (the moved object's days before the move,
    // the days still missing after it: the file sink does not fill the lake, so some twice).
    let delivered = report["repair"]["rows"].as_u64().unwrap();
    let written = parse_ndjson(&std::fs::read(&file).unwrap());
    assert_eq!(written.len() as u64, delivered, "{report}");
    let mut ids = std::collections::BTreeSet::new();
    let mut days = std::collections::BTreeSet::new();
    for row in &written {
        ids.insert(row["followUpId"].as_str().unwrap().to_owned());
        days.insert(row["createdAt"].as_str().unwrap()[..10].to_owned());
    }
    assert_eq!(ids.len(), 110, "every row of the eleven days");
    assert_eq!(days.len(), 11, "{days:?}");
}

/// Copies the folder `from` to `to`, recursively.
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_killed_at_random_points_and_run_again_leaves_the_whole_lake_equal_to_the_source()
{
    use rand::RngExt;
    let (mut rng, seed) = crate::helpers::seeded_rng("a_repair_killed_at_random_points");
    let SixDays {
        db,
        dir,
        lake,
        lake_arg,
        gateway,
    } = six_days_in_a_lake().await;
    let pristine = dir.path().join("pristine");
    copy_folder(&lake.join("guardrail_followups"), &pristine);

    // The damage, the same each time: an object of the 15th lost; a foreign row of the 13th
    // appended to an object dated the 12th (its other rows lie before --since); a line that is
    // not a row in an object of the 14th.
    let damage = || {
        for folder in ["guardrail_followups", "guardrail_followups_quarantine"] {
            let _ = std::fs::remove_dir_all(lake.join(folder));
        }
        copy_folder(&pristine, &lake.join("guardrail_followups"));
        let objects = lake_objects(&lake);
        let of_day = |day: &str| {
            objects
                .iter()
                .rfind(|o| o.to_str().unwrap().contains(&format!("dt={day}")))
                .unwrap()
                .clone()
        };
        std::fs::remove_file(of_day("2026-01-15")).unwrap();
        let mut bytes = std::fs::read(of_day("2026-01-12")).unwrap();
        bytes.extend_from_slice(
            format!("{}\n", foreign_row("2026-01-13T00:30:00.000000Z")).as_bytes(),
        );
        std::fs::write(of_day("2026-01-12"), bytes).unwrap();
        let mut bytes = std::fs::read(of_day("2026-01-14")).unwrap();
        bytes.extend_from_slice(b"{\"not\": \"a row\"}\n");
        std::fs::write(of_day("2026-01-14"), bytes).unwrap();
    };
    let repair = || {
        reconcile(dir.path(), &db, &lake_arg)
            .args(["--since", "2026-01-13", "--repair", "--quiet"])
            .args(sink(&gateway))
    };

    // How long a whole repair takes here, to kill within it.
    damage();
    let started = std::time::Instant::now();
    repair().run().await.assert_success();
    let whole = started.elapsed();
    let full = reconcile(dir.path(), &db, &lake_arg).run().await;
    assert_eq!(full.code, 0, "an uninterrupted repair: {full:?}");

    for round in 0..20 {
        damage();
        let delay = rng.random_range(0..whole.as_millis().max(1) as u64);
        let mut child = repair()
            .command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        let _ = child.start_kill();
        let _ = child.wait().await;
        let rerun = repair().run().await;
        assert_eq!(
            rerun.code, 0,
            "round {round}, killed after {delay} ms ({seed}): the rerun {rerun:?}"
        );
        let full = reconcile(dir.path(), &db, &lake_arg).run().await;
        assert_eq!(
            full.code, 0,
            "round {round}, killed after {delay} ms ({seed}): the whole lake {full:?}"
        );
    }
}

/// The Slack messages a loopback receiver got (Slack itself cannot run here: this server stands
/// in for its incoming webhook, answering 200 as it does).
fn slack_texts(slack: &FaultyServer) -> Vec<String> {
    slack
        .received()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_scheduled_reconcile_over_its_window_repairs_and_tells_slack_and_the_metrics() {
    let SixDays {
        db,
        dir,
        lake,
        lake_arg,
        gateway,
    } = six_days_in_a_lake().await;
    let slack = FaultyServer::start(vec![]).await;
    let slack_url = format!(
        "{}/services/T0001/B0002/reconcilesecret",
        slack.url.trim_end_matches("/v1/followups")
    );
    let metrics = dir.path().join("textfile/guardrail_reconcile.prom");
    // As the shipped units run it: a window of days, the repair through the gateway, Slack and
    // the textfile from the environment.
    let scheduled = |db_url: &str, lake_arg: &str| {
        Export::subcommand(dir.path(), &["reconcile", "--lake", lake_arg, "--repair"])
            .db(db_url)
            .args(sink(&gateway))
            .env("GUARDRAIL_RECONCILE_DAYS", "400")
            .env("GUARDRAIL_EXPORT_SLACK_WEBHOOK", &slack_url)
            .env(
                "GUARDRAIL_RECONCILE_METRICS_PATH",
                metrics.to_str().unwrap(),
            )
    };
    let series = |name: &str| -> Option<f64> {
        let text = std::fs::read_to_string(&metrics).unwrap();
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };

    // Everything matches: nothing to tell Slack, the textfile says so.
    let quiet = scheduled(&db.url, &lake_arg).run().await;
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(slack_texts(&slack).is_empty());
    assert_eq!(series("guardrail_reconcile_last_run_success"), Some(1.0));
    let matched = series("guardrail_reconcile_last_match_timestamp_seconds").unwrap();

    // An object lost: repaired, and told. One whose rows are all of one day, so that one
    // day differs.
    let object = lake_objects(&lake)
        .into_iter()
        .find(|o| {
            let text = std::fs::read_to_string(o).unwrap();
            o.to_str().unwrap().contains("dt=2026-01-12")
                && text.matches("\"createdAt\":\"2026-01-12").count() == 100
        })
        .unwrap();
    std::fs::remove_file(object).unwrap();
    let repaired = scheduled(&db.url, &lake_arg).run().await;
    assert_eq!(repaired.code, 0, "{repaired:?}");
    let told = slack_texts(&slack);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].starts_with(
            ":white_check_mark: Guardrail follow-ups reconcile repaired the lake: 1 of "
        ) && told[0].contains("100 missing")
            && told[0].contains("delivered 100 again and sent 0 tombstones; now every day matches"),
        "{}",
        told[0]
    );
    assert_eq!(series("guardrail_reconcile_repaired_rows"), Some(100.0));
    assert_eq!(
        series("guardrail_reconcile_differences{kind=\"missing\"}"),
        Some(0.0)
    );
    assert!(series("guardrail_reconcile_last_match_timestamp_seconds").unwrap() >= matched);

    // The database down: the runtime code, Slack told, the last match kept.
    let down = scheduled(
        "postgres://nobody@127.0.0.1:1/app?connect_timeout=2",
        &lake_arg,
    )
    .run()
    .await;
    assert_eq!(down.code, 1, "{down:?}");
    let told = slack_texts(&slack);
    assert!(
        told[1].starts_with(":x: Guardrail follow-ups reconcile could not run: "),
        "{}",
        told[1]
    );
    assert!(!told[1].contains("reconcilesecret"));
    assert_eq!(series("guardrail_reconcile_last_run_success"), Some(0.0));
    assert!(series("guardrail_reconcile_last_match_timestamp_seconds").is_some());

    // A configuration error: exit 2, nothing written, nothing sent.
    let before = std::fs::read(&metrics).unwrap();
    let bad = scheduled(&db.url, "gs://bucket/raw").run().await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(slack_texts(&slack).len(), 2);
    assert_eq!(std::fs::read(&metrics).unwrap(), before);
}

/// The lake object holding exactly `row`'s id: the one a batch of that row alone made.
fn object_of(lake: &Path, id: &str) -> std::path::PathBuf {
    lake_objects(lake)
        .into_iter()
        .find(|o| std::fs::read_to_string(o).unwrap().contains(id))
        .unwrap_or_else(|| panic!("no object holds {id}"))
}

#[tokio::test]
async fn a_repair_whose_batch_is_already_in_the_lake_sends_it_in_another_cut() {
    // A repair batch can be byte for byte one the lake already holds: a row edited and then
    // edited back, a damaged copy under the very key its rows hash to. Sent as it is, the
    // gateway would keep the old object (same bytes: nothing new for the warehouse to load) or
    // refuse it (409): the repair cuts it otherwise.
    let db = TestDb::new().await;
    let client = db.client().await;
    // `count` rows a minute apart from `day`'s midnight, noted `<notes> 0`, `<notes> 1`, …
    let insert = |notes: &'static str, day: &'static str, count: i32| {
        let client = &client;
        async move {
            client
                .execute(
                    "INSERT INTO provider_guardrail_followup (id, provider_id, provider_name, action, notes, created_at)
                     SELECT gen_random_uuid(), 'provider-' || i, 'Provider', 'pause', $1 || ' ' || i,
                            $2::text::timestamp AT TIME ZONE 'UTC' + make_interval(mins => i)
                     FROM generate_series(0, $3 - 1) AS i",
                    &[&notes, &day, &count],
                )
                .await
                .unwrap();
        }
    };
    insert("note", "2026-02-01", 6).await;
    let id_of = |notes: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(
                    "SELECT id::text FROM provider_guardrail_followup WHERE notes = $1",
                    &[&notes],
                )
                .await
                .unwrap();
            row.get::<_, String>(0)
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_arg = lake.to_str().unwrap().to_owned();
    let gateway = GatewayProcess::start(&lake_arg, &["--secret", SECRET]).await;
    // One row per object: a repair of one row hashes to its object's key.
    export_in_batches_of(1, dir.path(), &db, &gateway).await;
    assert_eq!(lake_objects(&lake).len(), 6);
    let repair = || {
        reconcile(dir.path(), &db, &lake_arg)
            .args(sink(&gateway))
            .args(["--repair"])
    };

    // A copy changed in place: stale, and its key is the one the repair's batch has.
    let changed = id_of("note 1").await;
    let object = object_of(&lake, &changed);
    let text = std::fs::read_to_string(&object).unwrap();
    std::fs::write(&object, text.replace("note 1", "note one")).unwrap();
    let (code, report) = reconcile_json(repair()).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["repair"]["before"]["stale"], 1, "{report}");

    // Edited, repaired, edited back, repaired: the second repair's batch is the first
    // export's object, which is older than the edit's copy.
    let edited = id_of("note 2").await;
    let edit = |notes: &'static str| {
        let (client, edited) = (&client, &edited);
        async move {
            client
                .execute(
                    "UPDATE provider_guardrail_followup SET notes = $1 WHERE id::text = $2",
                    &[&notes, edited],
                )
                .await
                .unwrap();
        }
    };
    edit("note 2, edited").await;
    let (code, report) = reconcile_json(repair()).await;
    assert_eq!(code, 0, "{report}");
    edit("note 2").await;
    let (code, report) = reconcile_json(repair()).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["repair"]["before"]["stale"], 1, "{report}");

    // A day exported in one batch, as the repair cuts it, then damaged under its rows' own
    // key: the day is delivered again before the object moves.
    insert("later", "2026-02-02", 3).await;
    export_in_batches_of(1000, dir.path(), &db, &gateway).await;
    let object = object_of(&lake, &id_of("later 0").await);
    let text = std::fs::read_to_string(&object).unwrap();
    assert_eq!(text.lines().count(), 3, "the day in one object");
    std::fs::write(&object, &text[..text.len() / 2]).unwrap();
    let (code, report) = reconcile_json(repair()).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["repair"]["quarantined"].as_array().unwrap().len(), 1);

    let (code, report) = reconcile_json(reconcile(dir.path(), &db, &lake_arg)).await;
    assert_eq!(code, 0, "{report}");
}
