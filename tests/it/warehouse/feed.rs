//! A real feed for the executed warehouse tests: a PostgreSQL table with varied rows, the
//! exporter sending them to the project's gateway, and the local lake it writes. Also the
//! source table as the warehouse should hold it, and the comparison, column for column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use guardrail_followups::row::{FollowUp, SourceRow};
use guardrail_followups::time::Timestamp;
use serde_json::{Value, json};

use super::doc::documented_names;
use super::emulator::{Emulator, Table};
use super::{STAGING, TABLE};
use crate::helpers::gateway::GatewayProcess;
use crate::helpers::{Export, TestDb};

const SECRET: &str = "warehouse-secret";

/// How long one run over a million rows may take on a debug build.
const LONG_RUN: Duration = Duration::from_secs(600);

/// Rows of every shape the table holds: null and blank strings, padded and mixed-case actions,
/// each kind of `platform_context` (canonical, variant keys, a string, an array, `{}`, JSON null,
/// SQL NULL), non-ASCII and quoted notes, microsecond timestamps at every minute of the hour.
/// They are an hour or two old, inside the late-row audit's window.
const INSERT_ROWS: &str = "
INSERT INTO provider_guardrail_followup
    (id, provider_id, provider_name, action, notes, platform_context, conversion_cursor, conversion_href, created_at)
SELECT gen_random_uuid(),
       'provider-' || (i % 6),
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'Provider ' || (i % 6) END,
       (ARRAY[' Pause ', 'resume', 'ESCALATE', 'review'])[1 + i % 4],
       CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN 'note ' || i WHEN 2 THEN E'Ünïcödé \"quoted\" and\\na second line'
                  WHEN 3 THEN '' ELSE '  padded  ' END,
       (CASE i % 7
            WHEN 0 THEN json_build_object('id', 'p' || i, 'label', 'Label ' || i, 'handle', '@h' || i, 'platformType', 'instagram')::text
            WHEN 1 THEN '{\"platform_type\": \"tiktok\", \"name\": \"  Padded  \", \"id\": \"t' || i || '\", \"extra\": 1}'
            WHEN 2 THEN '\"just a string\"'
            WHEN 3 THEN '[1, 2]'
            WHEN 4 THEN '{}'
            WHEN 5 THEN 'null'
            ELSE NULL END)::json,
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'cursor-' || i END,
       CASE WHEN i % 2 = 0 THEN NULL ELSE 'https://example.test/conversions/' || i END,
       $CREATED_AT
FROM generate_series(0, $COUNT - 1) AS i";

/// `created_at` of row `i`: an hour or two ago, inside the late-row audit's window.
const RECENT: &str = "date_trunc('hour', now()) - interval '2 hours'
           + make_interval(secs => i * 97 + (i * 7919 % 1000000) / 1000000.0)";

pub(super) struct Feed {
    pub(super) db: TestDb,
    pub(super) dir: tempfile::TempDir,
    gateway: GatewayProcess,
}

impl Feed {
    /// A database holding `count` varied rows and a gateway writing a local lake.
    pub(super) async fn new(count: usize) -> Feed {
        Feed::with_rows(count, RECENT).await
    }

    /// `count` varied rows spread evenly over the `days` days before today's UTC midnight.
    pub(super) async fn spread(count: usize, days: u32) -> Feed {
        let created_at = format!(
            "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '{days} days'
           + make_interval(secs => i * {} + (i::bigint * 7919 % 1000000) / 1000000.0)",
            u64::from(days) * 86_400 / count as u64
        );
        Feed::with_rows(count, &created_at).await
    }

    async fn with_rows(count: usize, created_at: &str) -> Feed {
        let db = TestDb::new().await;
        db.client()
            .await
            .batch_execute(
                &INSERT_ROWS
                    .replace("$COUNT", &count.to_string())
                    .replace("$CREATED_AT", created_at),
            )
            .await
            .expect("insert the feed's rows");
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let gateway = GatewayProcess::start(lake.to_str().unwrap(), &["--secret", SECRET]).await;
        Feed { db, dir, gateway }
    }

    /// The folder the stage's URL points at: `<lake>/guardrail_followups/`.
    pub(super) fn stage(&self) -> PathBuf {
        self.dir.path().join("lake").join("guardrail_followups")
    }

    /// One run of the exporter into the gateway, `batch` rows per webhook batch, with the cursor
    /// (and the late-row audit's fingerprints) in the test's folder.
    pub(super) async fn export(&self, batch: usize) {
        Export::new(self.dir.path())
            .within(LONG_RUN)
            .db(&self.db.url)
            .args([
                "--sink",
                "webhook",
                "--webhook-url",
                &self.gateway.url(),
                "--webhook-secret",
                SECRET,
                "--batch-size",
                &batch.to_string(),
                "--cursor-store",
                "file",
                "--quiet",
            ])
            .run()
            .await
            .assert_success();
    }

    /// Forgets the cursor, so the next export sends everything again.
    pub(super) fn forget_cursor(&self) {
        std::fs::remove_file(self.dir.path().join("guardrail_followups_cursor.json")).unwrap();
    }

    /// Changes a row that was exported already, and adds a late row with the same `created_at`
    /// (committed after the cursor passed it): the next run's audit delivers their time bucket
    /// again, with the changed row's new values. Returns the changed row's id.
    pub(super) async fn change_a_row_and_commit_a_late_one(&self) -> String {
        let client = self.db.client().await;
        let row = client
            .query_one(
                "UPDATE provider_guardrail_followup
                 SET notes = 'changed in the source after it was exported', provider_name = 'Renamed Provider',
                     platform_context = '{\"id\": \"new-id\", \"label\": \"New label\"}'
                 WHERE id = (SELECT id FROM provider_guardrail_followup ORDER BY created_at, id OFFSET 10 LIMIT 1)
                 RETURNING id::text, created_at",
                &[],
            )
            .await
            .unwrap();
        let created_at: SystemTime = row.get(1);
        client
            .execute(
                "INSERT INTO provider_guardrail_followup (id, provider_id, action, notes, created_at)
                 VALUES (gen_random_uuid(), 'provider-late', 'pause', 'committed late', $1)",
                &[&created_at],
            )
            .await
            .unwrap();
        row.get(0)
    }

    /// Edits one exported row's notes, and nothing else: no late row comes with it. Returns its
    /// id.
    pub(super) async fn edit_a_row(&self, offset: usize, notes: &str) -> String {
        let sql = "UPDATE provider_guardrail_followup SET notes = $1";
        self.on_row_at(offset, sql, &[&notes]).await
    }

    /// Deletes one row from the source, as a deletion request would. Returns its id.
    pub(super) async fn delete_a_row(&self, offset: usize) -> String {
        let sql = "DELETE FROM provider_guardrail_followup";
        self.on_row_at(offset, sql, &[]).await
    }

    /// Runs `statement` (an UPDATE or DELETE of the table) on the row at `offset` in export
    /// order. Returns its id.
    async fn on_row_at(
        &self,
        offset: usize,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> String {
        let sql = format!(
            "{statement}
             WHERE id = (SELECT id FROM provider_guardrail_followup
                         ORDER BY created_at, id OFFSET {offset} LIMIT 1)
             RETURNING id::text"
        );
        let row = self
            .db
            .client()
            .await
            .query_one(&sql, params)
            .await
            .unwrap();
        row.get(0)
    }

    /// `reconcile --json` over the whole lake: its exit code and report.
    pub(super) async fn reconcile(&self) -> (i32, Value) {
        let lake = self.dir.path().join("lake");
        let out = Export::subcommand(
            self.dir.path(),
            &["reconcile", "--lake", lake.to_str().unwrap(), "--json"],
        )
        .db(&self.db.url)
        .within(LONG_RUN)
        .run()
        .await;
        let report = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("--json prints one JSON object ({e}): {out:?}"));
        (out.code, report)
    }

    /// `reconcile --repair` over the whole lake, delivering through the gateway: it must leave
    /// the lake equal to the source (exit 0).
    pub(super) async fn repair(&self) {
        let lake = self.dir.path().join("lake");
        Export::subcommand(
            self.dir.path(),
            &[
                "reconcile",
                "--lake",
                lake.to_str().unwrap(),
                "--repair",
                "--sink",
                "webhook",
                "--webhook-url",
                &self.gateway.url(),
                "--webhook-secret",
                SECRET,
            ],
        )
        .db(&self.db.url)
        .within(LONG_RUN)
        .run()
        .await
        .assert_success();
    }

    /// Adds `count` new rows after every row so far.
    pub(super) async fn add_rows(&self, count: usize) {
        self.db
            .client()
            .await
            .batch_execute(&format!(
                "INSERT INTO provider_guardrail_followup (id, provider_id, action, notes, created_at)
                 SELECT gen_random_uuid(), 'provider-new', 'resume', 'new ' || i,
                        (SELECT max(created_at) FROM provider_guardrail_followup) + make_interval(secs => i)
                 FROM generate_series(1, {count}) AS i"
            ))
            .await
            .unwrap();
    }

    /// The source table as the warehouse table should hold it, keyed by follow_up_id: the
    /// documented columns 1–12, mapped by the row contract the exporter uses.
    pub(super) async fn source(&self) -> BTreeMap<String, Vec<Value>> {
        let rows = self
            .db
            .client()
            .await
            .query(
                "SELECT id, provider_id, provider_name, action, notes, platform_context::text,
                        conversion_cursor, conversion_href,
                        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
                 FROM provider_guardrail_followup",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                let (row, _) = FollowUp::from_source(SourceRow {
                    id: r.get(0),
                    provider_id: r.get(1),
                    provider_name: r.get(2),
                    action: r.get(3),
                    notes: r.get(4),
                    platform_context: r.get(5),
                    conversion_cursor: r.get(6),
                    conversion_href: r.get(7),
                    created_at: Timestamp::parse(r.get(8)).unwrap(),
                });
                let context = row.platform_context.clone().unwrap_or_default();
                let created = row.created_at.to_string();
                let values = vec![
                    json!(row.follow_up_id.to_string()),
                    json!(row.provider_id),
                    json!(row.provider_name),
                    json!(row.action),
                    json!(row.notes),
                    json!(context.id),
                    json!(context.label),
                    json!(context.handle),
                    json!(context.platform_type),
                    json!(row.conversion_cursor),
                    json!(row.conversion_href),
                    json!({"ntz": created.trim_end_matches('Z')}),
                ];
                (row.follow_up_id.to_string(), values)
            })
            .collect()
    }
}

/// The lake objects under `stage`, as paths relative to it, in name order.
pub(super) fn objects(stage: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![stage.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(
                    path.strip_prefix(stage)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

/// Sets an object's modification time: `minutes` after a fixed instant.
pub(super) fn set_mtime(path: &Path, minutes: u64) {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(base + Duration::from_secs(60 * minutes))
        .unwrap();
}

/// `Ok` when `table` holds exactly the source's follow-ups, one row each, every documented
/// column equal by type and value, the load columns filled; otherwise what differs.
pub(super) fn compare(table: &Table, source: &BTreeMap<String, Vec<Value>>) -> Result<(), String> {
    let documented = documented_names();
    if table.columns != documented {
        return Err(format!(
            "the table's columns {:?} are not the documented {documented:?}",
            table.columns
        ));
    }
    let mut problems = Vec::new();
    let mut seen = BTreeMap::new();
    for row in &table.rows {
        let id = row[0].as_str().unwrap_or("?").to_owned();
        if seen.insert(id.clone(), row).is_some() {
            problems.push(format!("follow-up {id} is in the table twice"));
        }
    }
    for (id, expected) in source {
        let Some(actual) = seen.get(id) else {
            problems.push(format!("follow-up {id} is missing from the table"));
            continue;
        };
        for (index, value) in expected.iter().enumerate() {
            if &actual[index] != value {
                problems.push(format!(
                    "follow-up {id}, column {}: the table has {}, the source {value}",
                    documented[index], actual[index]
                ));
            }
        }
        for load in ["source_file", "loaded_at", "source_file_modified_at"] {
            if actual[table.column(load)].is_null() {
                problems.push(format!("follow-up {id}: {load} is null"));
            }
        }
    }
    for id in seen.keys() {
        if !source.contains_key(id) {
            problems.push(format!(
                "follow-up {id} is in the table but not in the source"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let total = problems.len();
        problems.truncate(12);
        Err(format!("{total} differences:\n{}", problems.join("\n")))
    }
}

/// Asserts that the analytics table equals the source, column for column.
#[track_caller]
pub(super) fn assert_table_equals_source(
    emulator: &mut Emulator,
    source: &BTreeMap<String, Vec<Value>>,
    step: &str,
) {
    let table = emulator.table(TABLE);
    if let Err(e) = compare(&table, source) {
        panic!("after {step}, {TABLE} differs from the source: {e}");
    }
}

pub(super) fn staged_rows(emulator: &mut Emulator) -> usize {
    emulator.table(STAGING).rows.len()
}
