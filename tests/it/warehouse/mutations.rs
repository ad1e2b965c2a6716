//! The newest copy of a follow-up wins, whatever the names of the objects, and the executed
//! checks catch the mistakes that the SQL could plausibly make: each mutation of a copy of it
//! must fail the column-for-column comparison that the SQL as it is passes.

use std::collections::BTreeMap;
use std::path::Path;

use rand::RngExt;
use serde_json::Value;

use super::TABLE;
use super::emulator::{DEPLOY, Emulator, sql_copy, sql_dir};
use super::feed::{Feed, compare, objects, set_mtime};
use crate::helpers::seeded_rng;

/// A feed whose lake holds every row once, then the audit's resend of the bucket of a changed
/// row: `(feed, original objects, resent objects, the changed row's id)`.
async fn changed_row_feed() -> (Feed, Vec<String>, Vec<String>, String) {
    let feed = Feed::new(30).await;
    feed.export(7).await;
    let originals = objects(&feed.stage());
    let changed = feed.change_a_row_and_commit_a_late_one().await;
    feed.export(7).await;
    let resent: Vec<String> = objects(&feed.stage())
        .into_iter()
        .filter(|o| !originals.contains(o))
        .collect();
    assert!(!resent.is_empty(), "the audit delivered the bucket again");
    (feed, originals, resent, changed)
}

/// Deploys `sql` on a new account over `stage`, runs the task graph once (both copies of the
/// changed row in one MERGE) and compares the table with the source.
fn load_once(
    warehouse: &mut Emulator,
    sql: &Path,
    stage: &Path,
    source: &BTreeMap<String, Vec<Value>>,
) -> Result<(), String> {
    warehouse.reset(sql, stage);
    for file in DEPLOY {
        warehouse.run_file(file)?;
    }
    warehouse.run_tasks(None)?;
    compare(&warehouse.table(TABLE), source)
}

#[tokio::test]
async fn the_newest_copy_wins_in_twenty_of_twenty_trials_whatever_the_object_names() {
    let (feed, originals, resent, changed) = changed_row_feed().await;
    let source = feed.source().await;
    let (mut rng, _seed) = seeded_rng("the_newest_copy_wins");
    let mut warehouse = Emulator::start(&sql_dir(), &feed.stage());
    let mut wins = 0;
    let mut resend_named_last = 0;
    for trial in 0..20 {
        let stage = feed.dir.path().join(format!("trial-{trial}"));
        // The paths (as the stage names them) of the old and the new copy of the changed row.
        let mut old_copy = None;
        let mut new_copy = None;
        for (object, minute) in originals
            .iter()
            .map(|o| (o, 0))
            .chain(resent.iter().map(|o| (o, 10)))
        {
            let folder = Path::new(object).parent().unwrap();
            let name = folder.join(format!("gf1-{:032x}.ndjson", rng.random::<u128>()));
            let target = stage.join(&name);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(feed.stage().join(object), &target).unwrap();
            set_mtime(&target, minute);
            if std::fs::read_to_string(&target).unwrap().contains(&changed) {
                *(if minute == 0 {
                    &mut old_copy
                } else {
                    &mut new_copy
                }) = Some(name);
            }
        }
        let (old_copy, new_copy) = (old_copy.unwrap(), new_copy.unwrap());
        if new_copy > old_copy {
            resend_named_last += 1;
        }
        match load_once(&mut warehouse, &sql_dir(), &stage, &source) {
            Ok(()) => wins += 1,
            Err(e) => eprintln!("trial {trial}: {e}"),
        }
    }
    assert_eq!(wins, 20, "the newest copy won in {wins} of 20 trials");
    assert!(
        resend_named_last > 0 && resend_named_last < 20,
        "the random names should put the new copy's object after the old one's in some trials \
         and before it in others ({resend_named_last} of 20 after)"
    );
    let table = warehouse.table(TABLE);
    let row = table
        .rows
        .iter()
        .find(|r| r[0] == changed.as_str())
        .unwrap();
    assert_eq!(row[4], "changed in the source after it was exported");
}

/// A mutation of the SQL: every occurrence of `from` in the `.sql` files becomes `to`.
struct Mutation {
    what: &'static str,
    from: &'static str,
    to: &'static str,
}

const MUTATIONS: [Mutation; 5] = [
    Mutation {
        what: "two COPY items swapped",
        from: "        $1:providerName::STRING,\n        $1:action::STRING,\n        $1:notes::STRING,",
        to: "        $1:notes::STRING,\n        $1:action::STRING,\n        $1:providerName::STRING,",
    },
    Mutation {
        what: "MM and MI swapped in the createdAt format",
        from: "'YYYY-MM-DD\"T\"HH24:MI:SS.FF6\"Z\"'",
        to: "'YYYY-MI-DD\"T\"HH24:MM:SS.FF6\"Z\"'",
    },
    Mutation {
        what: "DD and MM swapped in the createdAt format",
        from: "'YYYY-MM-DD\"T\"HH24:MI:SS.FF6\"Z\"'",
        to: "'YYYY-DD-MM\"T\"HH24:MI:SS.FF6\"Z\"'",
    },
    Mutation {
        what: "notes read as JSON text",
        from: "$1:notes::STRING",
        to: "TO_JSON($1:notes)::STRING",
    },
    Mutation {
        what: "the QUALIFY order reversed",
        from: "ORDER BY source_file_modified_at DESC NULLS LAST, source_file DESC",
        to: "ORDER BY source_file_modified_at ASC NULLS LAST, source_file ASC",
    },
];

fn mutated_copy(into: &Path, mutation: &Mutation) {
    let applied: usize = std::fs::read_dir(sql_dir())
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .matches(mutation.from)
                .count()
        })
        .sum();
    assert!(
        applied > 0,
        "the mutation `{}` found nothing to change",
        mutation.what
    );
    sql_copy(into, |text| text.replace(mutation.from, mutation.to));
}

#[tokio::test]
async fn each_mutation_of_the_sql_fails_the_column_for_column_comparison() {
    let (feed, originals, resent, _) = changed_row_feed().await;
    let stage = feed.stage();
    for object in &originals {
        set_mtime(&stage.join(object), 0);
    }
    for object in &resent {
        set_mtime(&stage.join(object), 10);
    }
    let source = feed.source().await;
    let mut warehouse = Emulator::start(&sql_dir(), &stage);
    load_once(&mut warehouse, &sql_dir(), &stage, &source)
        .unwrap_or_else(|e| panic!("the SQL as it is should pass: {e}"));
    for (index, mutation) in MUTATIONS.iter().enumerate() {
        let sql = feed.dir.path().join(format!("mutation-{index}"));
        mutated_copy(&sql, mutation);
        let outcome = load_once(&mut warehouse, &sql, &stage, &source);
        assert!(
            outcome.is_err(),
            "with {} the table still equals the source: the executed checks miss it",
            mutation.what
        );
    }
}
