//! The SQL executed on the Snowflake emulator over a lake the real exporter and gateway wrote:
//! after every step the analytics table equals the source table, column for column.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::emulator::{Emulator, sql_copy, sql_dir};
use super::feed::{Feed, assert_table_equals_source, objects, set_mtime, staged_rows};
use super::{STAGING, TABLE};

const LOAD: &str = "analytics.guardrail_followups_load";
const MERGE: &str = "analytics.guardrail_followups_merge";
const PRUNE: &str = "analytics.guardrail_followups_prune";

/// The rebuild of docs/data-lake.md ("Rebuilding the table from the lake"): suspend the root
/// task, the COPY of 04_load.sql with FORCE = TRUE, 05_merge.sql, resume the root task.
fn rebuild(emulator: &mut Emulator, scan_time: Option<&str>) {
    emulator
        .statement(&format!("ALTER TASK {LOAD} SUSPEND"))
        .unwrap();
    emulator
        .run_file_with("04_load.sql", true, scan_time)
        .unwrap();
    emulator.run_file("05_merge.sql").unwrap();
    emulator
        .statement(&format!("ALTER TASK {LOAD} RESUME"))
        .unwrap();
}

fn no_duplicates(emulator: &mut Emulator) {
    let checks = emulator.checks();
    assert_eq!(
        checks[0]["rows"],
        Value::Array(vec![]),
        "07_checks.sql's duplicate check found duplicates"
    );
}

/// Gives the objects that appeared since the last call (not in `known`) the modification time
/// `minute`, and returns them: every export's objects are modified after the ones before.
fn stamp_new(stage: &Path, known: &mut Vec<String>, minute: u64) -> Vec<String> {
    let new: Vec<String> = objects(stage)
        .into_iter()
        .filter(|o| !known.contains(o))
        .collect();
    for object in &new {
        set_mtime(&stage.join(object), minute);
    }
    known.extend(new.iter().cloned());
    new
}

/// The export sent `new_objects` (at least one: the audit's resend), and after the tasks run
/// the table equals the source, where row `id` has `notes`. Returns the source.
async fn assert_loaded_with(
    feed: &Feed,
    warehouse: &mut Emulator,
    new_objects: Vec<String>,
    (id, notes): (&str, &str),
    step: &str,
) -> BTreeMap<String, Vec<Value>> {
    assert!(!new_objects.is_empty(), "{step}: no object delivered again");
    warehouse.run_tasks(None).unwrap();
    let source = feed.source().await;
    assert_eq!(source[id][4], notes, "{step}");
    assert_table_equals_source(warehouse, &source, step);
    source
}

#[tokio::test]
async fn the_table_equals_the_source_after_every_step_of_the_hourly_load() {
    let feed = Feed::new(45).await;
    let stage = feed.stage();
    std::fs::create_dir_all(&stage).unwrap();
    let mut warehouse = Emulator::start(&sql_dir(), &stage);
    warehouse.deploy();

    // Every object gets an explicit modification time when it appears, later for each export.
    let mut known = Vec::new();
    let mut stamp = |minute: u64| stamp_new(&stage, &mut known, minute);

    // First load: the task graph loads every object, merges, prunes.
    feed.export(7).await;
    let first_objects = stamp(0);
    assert_eq!(first_objects.len(), 7, "45 rows in batches of 7");
    let ran = warehouse.run_tasks(None).unwrap();
    assert_eq!(Emulator::ran(&ran), [LOAD, MERGE, PRUNE]);
    assert_table_equals_source(&mut warehouse, &feed.source().await, "the first load");
    assert_eq!(staged_rows(&mut warehouse), 45);

    // Idle run: nothing new, so the load loads nothing and the merge does not run.
    let ran = warehouse.run_tasks(None).unwrap();
    assert_eq!(Emulator::ran(&ran), [LOAD], "{ran}");
    assert_table_equals_source(&mut warehouse, &feed.source().await, "an idle run");

    // The same batches sent again: the same objects, which COPY skips.
    feed.forget_cursor();
    feed.export(7).await;
    assert_eq!(
        stamp(5),
        Vec::<String>::new(),
        "a resent batch is its own object"
    );
    let ran = warehouse.run_tasks(None).unwrap();
    assert_eq!(ran["ran"][0]["result"]["rows"], 0, "{ran}");
    assert_eq!(staged_rows(&mut warehouse), 45);
    assert_table_equals_source(&mut warehouse, &feed.source().await, "a resend");

    // Sent again with other batch boundaries: new objects, every row staged twice, one row each.
    feed.forget_cursor();
    feed.export(5).await;
    assert_eq!(stamp(10).len(), 9, "45 rows in batches of 5");
    warehouse.run_tasks(None).unwrap();
    assert_eq!(staged_rows(&mut warehouse), 90);
    assert_table_equals_source(
        &mut warehouse,
        &feed.source().await,
        "a resend with other boundaries",
    );
    no_duplicates(&mut warehouse);

    // A row changed in the source, and a late row in its time bucket: the audit sends the
    // bucket again, with the changed values, in an object modified after all the others.
    let changed = feed.change_a_row_and_commit_a_late_one().await;
    feed.export(7).await;
    let resent = stamp(20);
    let notes = "changed in the source after it was exported";
    let step = "the audit's resend of a changed row";
    assert_loaded_with(&feed, &mut warehouse, resent, (&changed, notes), step).await;

    // An edit alone, with nothing else in its time bucket: the row's new change marker (its
    // xmin) makes the audit send the bucket again, and the load holds the new values.
    let notes = "edited in the source, nothing else changed";
    let edited = feed.edit_a_row(20, notes).await;
    feed.export(7).await;
    let resent = stamp(25);
    let step = "the audit's resend of an edit";
    let source = assert_loaded_with(&feed, &mut warehouse, resent, (&edited, notes), step).await;

    // The rebuild reloads every object, the old copies of the changed row too: they lose.
    rebuild(&mut warehouse, None);
    assert_table_equals_source(&mut warehouse, &source, "the rebuild over the table");
    warehouse
        .statement(&format!("DELETE FROM {TABLE}"))
        .unwrap();
    rebuild(&mut warehouse, None);
    assert_table_equals_source(&mut warehouse, &source, "the rebuild of an emptied table");
    no_duplicates(&mut warehouse);

    // The prune: rows staged more than 14 days ago go (here: a forced reload dated 20 days
    // back); the load metadata stays, so the next load does not bring them back.
    let staged = staged_rows(&mut warehouse);
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(20)).to_rfc3339();
    rebuild(&mut warehouse, Some(&long_ago));
    assert_eq!(
        staged_rows(&mut warehouse),
        staged,
        "the prune deletes exactly the rows staged over 14 days ago"
    );
    let old = warehouse.query(&format!(
        "SELECT COUNT(*) AS old FROM {STAGING} WHERE loaded_at < DATEADD('day', -14, CURRENT_TIMESTAMP())"
    ));
    assert_eq!(old.rows[0][0], 0);
    let ran = warehouse.run_tasks(None).unwrap();
    assert_eq!(ran["ran"][0]["result"]["rows"], 0, "{ran}");
    assert_eq!(staged_rows(&mut warehouse), staged);
    assert_table_equals_source(&mut warehouse, &source, "the prune");

    // A corrupt object stops the load whole: the good object beside it waits, nothing is
    // half loaded, and once the bad object is moved away the next run loads what waited.
    feed.add_rows(3).await;
    feed.export(7).await;
    let good = stamp(30).pop().expect("the new rows' object");
    let line = std::fs::read_to_string(stage.join(&good)).unwrap();
    let first = line.lines().next().unwrap();
    let folder = Path::new(&good).parent().unwrap();
    let bad = folder.join("gf1-0123456789abcdef0123456789abcdef.ndjson");
    for corrupt in [
        format!("{first}\n{{\"followUpId\": \"truncated"),
        format!(
            "{first}\n{}\n",
            first.replace(
                &first[first.find("\"createdAt\":\"").unwrap()..],
                "\"createdAt\":\"2026-12-01 04:00:00\"}"
            )
        ),
    ] {
        std::fs::write(stage.join(&bad), corrupt).unwrap();
        let failed = warehouse.run_tasks(None).unwrap_err();
        assert!(failed.contains(LOAD), "{failed}");
        assert_eq!(
            staged_rows(&mut warehouse),
            staged,
            "nothing was half loaded"
        );
        assert_table_equals_source(&mut warehouse, &source, "a failed load");
    }
    std::fs::rename(stage.join(&bad), feed.dir.path().join("quarantined.ndjson")).unwrap();
    warehouse.run_tasks(None).unwrap();
    assert_eq!(staged_rows(&mut warehouse), staged + 3);
    assert_table_equals_source(
        &mut warehouse,
        &feed.source().await,
        "the load after the bad object was moved away",
    );
}

/// The lines of a lake object that are tombstones (`deletedAt`), by follow-up id.
fn tombstones_in(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line.get("deletedAt").is_some())
        .map(|line| line["followUpId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_deleted_follow_up_leaves_the_table_by_its_tombstone_whatever_the_order_of_the_loads() {
    let feed = Feed::new(30).await;
    let stage = feed.stage();
    std::fs::create_dir_all(&stage).unwrap();
    let mut warehouse = Emulator::start(&sql_dir(), &stage);
    warehouse.deploy();
    let mut known = Vec::new();
    let mut stamp = |minute: u64| stamp_new(&stage, &mut known, minute);
    feed.export(10).await;
    stamp(0);
    warehouse.run_tasks(None).unwrap();
    assert_table_equals_source(&mut warehouse, &feed.source().await, "the first load");

    // Deleted in the source: reconcile --repair sends its tombstone through the gateway, and
    // the load removes the follow-up.
    let deleted = feed.delete_a_row(4).await;
    feed.repair().await;
    let tombstone_objects = stamp(5);
    assert_eq!(tombstone_objects.len(), 1, "{tombstone_objects:?}");
    let tombstone_object = stage.join(&tombstone_objects[0]);
    assert_eq!(tombstones_in(&tombstone_object), [deleted.as_str()]);
    warehouse.run_tasks(None).unwrap();
    let source = feed.source().await;
    assert!(!source.contains_key(&deleted));
    assert_table_equals_source(&mut warehouse, &source, "a tombstone's load");
    assert_eq!(staged_rows(&mut warehouse), 31, "the tombstone is staged");

    // The same tombstone sent twice (a second object): the table stays as it is.
    let again = tombstone_object.with_file_name("gf1-ffffffffffffffffffffffffffffffff.ndjson");
    std::fs::copy(&tombstone_object, &again).unwrap();
    stamp(10);
    warehouse.run_tasks(None).unwrap();
    assert_table_equals_source(&mut warehouse, &source, "a tombstone sent twice");

    // A row and its tombstone in one load: a copy of the row resent late (an object modified
    // before the tombstone's) and the tombstone, merged together. The tombstone is newer and
    // wins, as it did when they came in two loads.
    let gone = feed.delete_a_row(10).await;
    let line = objects(&stage)
        .iter()
        .flat_map(|o| {
            std::fs::read_to_string(stage.join(o))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|line| line.contains(&gone))
        .unwrap();
    feed.repair().await;
    let buried = stamp(20);
    assert_eq!(buried.len(), 1, "{buried:?}");
    let folder = stage.join(&buried[0]);
    let resent = folder.with_file_name("gf1-00000000000000000000000000000001.ndjson");
    std::fs::write(&resent, format!("{line}\n")).unwrap();
    stamp(15);
    warehouse.run_tasks(None).unwrap();
    let source = feed.source().await;
    assert!(!source.contains_key(&gone));
    assert_table_equals_source(
        &mut warehouse,
        &source,
        "a row and its tombstone in one load",
    );
    no_duplicates(&mut warehouse);

    // The rebuild from every object, tombstones among them, ends in the same table.
    rebuild(&mut warehouse, None);
    assert_table_equals_source(&mut warehouse, &source, "the rebuild");
}

#[tokio::test]
async fn running_the_files_again_replaces_definitions_and_brings_an_older_deployment_up_to_date() {
    let feed = Feed::new(12).await;
    let stage = feed.stage();
    feed.export(5).await;
    let source = feed.source().await;
    let dir = feed.dir.path();

    // An existing deployment of the version before source_file_modified_at, holding a stale
    // copy of one follow-up.
    let old = dir.join("old-sql");
    let alter = regex::Regex::new(r"(?m)^ALTER TABLE [^;]*;\n").unwrap();
    sql_copy(&old, |text| {
        // The staging table from before tombstones: no deleted_at, every column NOT NULL that
        // the analytics table has NOT NULL.
        let text = text
            .replace(",\n    deleted_at              TIMESTAMP_NTZ(6)", "")
            .replace(",\n    source_file_modified_at TIMESTAMP_NTZ(6)", "")
            .replace(
                "    provider_id             VARCHAR,\n",
                "    provider_id             VARCHAR          NOT NULL,\n",
            )
            .replace(
                "    action                  VARCHAR,\n",
                "    action                  VARCHAR          NOT NULL,\n",
            );
        alter.replace_all(&text, "").into_owned()
    });
    let tables = std::fs::read_to_string(old.join("01_tables.sql")).unwrap();
    assert!(
        !tables.contains("source_file_modified_at TIMESTAMP_NTZ(6)"),
        "the older version's tables have no source_file_modified_at"
    );
    let mut warehouse = Emulator::start(&old, &stage);
    for file in ["01_tables.sql", "02_file_format.sql", "03_stage.sql"] {
        warehouse.run_file(file).unwrap();
    }
    let (id, row) = source.iter().next().unwrap();
    warehouse
        .statement(&format!(
            "INSERT INTO {TABLE} (follow_up_id, provider_id, action, created_at, source_file, loaded_at) \
             VALUES ('{id}', 'stale', 'stale', '2000-01-01 00:00:00', 'old.ndjson', CURRENT_TIMESTAMP())"
        ))
        .unwrap();
    assert_ne!(row[1], "stale");

    // The current files, run over it as the setup says: 01 adds the column to both tables
    // (last, where a fresh deployment has it too), and the stale copy loses to the lake's.
    warehouse.use_sql(&sql_dir());
    warehouse.deploy();
    for (table, documented) in [
        (TABLE, super::doc::documented_names()),
        (STAGING, super::doc::staging_names()),
    ] {
        let columns = warehouse.table(table).columns;
        assert_eq!(columns, documented, "{table}");
    }
    warehouse.run_tasks(None).unwrap();
    assert_table_equals_source(
        &mut warehouse,
        &source,
        "the upgrade of an older deployment",
    );

    // Running the files again, edited, while the tasks run: the new definitions are in place
    // and every task is resumed.
    let edited = dir.join("edited-sql");
    sql_copy(&edited, |text| {
        text.replace("USING CRON 20 * * * * UTC", "USING CRON 35 * * * * UTC")
    });
    warehouse.use_sql(&edited);
    warehouse.deploy();
    let tasks = warehouse.tasks();
    assert_eq!(
        tasks["tasks"][LOAD]["schedule"],
        "USING CRON 35 * * * * UTC"
    );
    for task in [LOAD, MERGE, PRUNE] {
        assert_eq!(tasks["tasks"][task]["state"], "started", "{task}: {tasks}");
    }
    warehouse.run_tasks(None).unwrap();
    assert_table_equals_source(&mut warehouse, &source, "a second deployment");

    // Snowflake refuses to replace a task of a graph whose root runs: hence the SUSPEND first.
    let unsuspended = dir.join("unsuspended-sql");
    sql_copy(&unsuspended, |text| {
        text.replace(&format!("ALTER TASK IF EXISTS {LOAD} SUSPEND;"), "")
    });
    warehouse.use_sql(&unsuspended);
    let refused = warehouse.run_file("06_task.sql").unwrap_err();
    assert!(refused.contains("not suspended"), "{refused}");
}

/// The `{id, day}` pairs of one kind in a reconcile report, sorted.
fn named(report: &Value, kind: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = report["ids"][kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["day"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn a_million_rows_with_an_old_edit_a_deletion_and_a_corrupted_copy_end_equal_in_the_warehouse()
 {
    const ROWS: usize = 1_000_000;
    let feed = Feed::spread(ROWS, 60).await;
    feed.export(10_000).await;
    let stage = feed.stage();
    let originals = objects(&stage);
    for object in &originals {
        set_mtime(&stage.join(object), 0);
    }
    let client = feed.db.client().await;
    let day_of = |row: &tokio_postgres::Row| -> (String, String) { (row.get(0), row.get(1)) };
    const DAY: &str = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')";

    // A row 30 days old, edited: far outside the late-row audit's window.
    let edited = day_of(
        &client
            .query_one(
                &format!(
                    "UPDATE provider_guardrail_followup SET notes = 'edited a month later'
                     WHERE id = (SELECT id FROM provider_guardrail_followup
                                 WHERE created_at >= now() - interval '30 days'
                                 ORDER BY created_at, id LIMIT 1)
                     RETURNING id::text, {DAY}"
                ),
                &[],
            )
            .await
            .unwrap(),
    );
    // Another deleted, as a deletion request would.
    let deleted = day_of(
        &client
            .query_one(
                &format!(
                    "DELETE FROM provider_guardrail_followup
                     WHERE id = (SELECT id FROM provider_guardrail_followup
                                 ORDER BY created_at, id OFFSET 123456 LIMIT 1)
                     RETURNING id::text, {DAY}"
                ),
                &[],
            )
            .await
            .unwrap(),
    );
    // A third row's copy changed in the lake by hand, its object modified after the others.
    let object = stage.join(&originals[originals.len() / 2]);
    let text = std::fs::read_to_string(&object).unwrap();
    // Only that line's bytes change: its notes, written as the exporter writes them.
    let (index, victim) = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .enumerate()
        .find(|(_, l)| {
            l["followUpId"] != edited.0.as_str() && l["followUpId"] != deleted.0.as_str()
        })
        .unwrap();
    let corrupted = (
        victim["followUpId"].as_str().unwrap().to_owned(),
        victim["createdAt"].as_str().unwrap()[..10].to_owned(),
    );
    let notes = format!("\"notes\":{}", victim["notes"]);
    let rewritten: String = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = if i == index {
                assert!(line.contains(&notes), "{line}");
                line.replacen(&notes, "\"notes\":\"changed in the lake\"", 1)
            } else {
                line.to_owned()
            };
            format!("{line}\n")
        })
        .collect();
    std::fs::write(&object, rewritten).unwrap();
    set_mtime(&object, 1);

    // Named exactly, by kind and day, with the differences code.
    let (code, report) = feed.reconcile().await;
    assert_eq!(code, 4, "{report}");
    assert_eq!(named(&report, "missing"), []);
    assert_eq!(named(&report, "foreign"), std::slice::from_ref(&deleted));
    let mut stale = vec![edited.clone(), corrupted.clone()];
    stale.sort();
    assert_eq!(named(&report, "stale"), stale);
    assert_eq!(
        (&report["missing"], &report["foreign"], &report["stale"]),
        (&json!(0), &json!(1), &json!(2))
    );
    assert_eq!(report["sourceRows"], ROWS - 1);
    let mut days: Vec<String> = [&edited.1, &deleted.1, &corrupted.1]
        .into_iter()
        .cloned()
        .collect();
    days.sort();
    days.dedup();
    let differing: Vec<String> = report["differingDays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(differing, days);

    // The repair, then a reconcile that finds nothing.
    feed.repair().await;
    let known = objects(&stage);
    let added: Vec<&String> = known.iter().filter(|o| !originals.contains(o)).collect();
    assert!(!added.is_empty());
    for object in &added {
        set_mtime(&stage.join(object), 2);
    }
    let (code, report) = feed.reconcile().await;
    assert_eq!(code, 0, "{report}");

    // The warehouse loads the whole lake: it equals the source column by column, and the
    // deleted follow-up is not in the table BI reads.
    let mut warehouse = Emulator::start(&sql_dir(), &stage);
    warehouse.deploy();
    warehouse.run_tasks(None).unwrap();
    let source = feed.source().await;
    assert_eq!(source.len(), ROWS - 1);
    assert!(!source.contains_key(&deleted.0));
    assert_eq!(source[&edited.0][4], "edited a month later");
    assert_table_equals_source(&mut warehouse, &source, "a million rows after the repair");
}
