//! The demo database: `./guardrail-demo.sqlite`, created on first use with a fixed, realistic
//! sample so that `export --demo` shows what the feed looks like without any setup.

use std::path::Path;

use anyhow::Context;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::Connection;

use crate::time::Timestamp;

/// Where `--demo` keeps its database, relative to the working directory.
pub const DEMO_PATH: &str = "guardrail-demo.sqlite";

/// Rows in the sample.
pub const DEMO_ROWS: usize = 640;

/// The table as the application defines it, in SQLite types: the columns of
/// [`crate::row::schema::COLUMNS`], all text (the id first, as the primary key), and
/// `attachments`, which the feed does not export.
pub fn sqlite_schema() -> String {
    let columns: Vec<String> = crate::row::schema::COLUMNS
        .iter()
        .map(|c| match (c.sql, c.nullable) {
            ("id", _) => "    id TEXT PRIMARY KEY".to_owned(),
            (name, false) => format!("    {name} TEXT NOT NULL"),
            (name, true) => format!("    {name} TEXT"),
        })
        .chain(["    attachments TEXT".to_owned()])
        .collect();
    format!(
        "CREATE TABLE {} (\n{}\n)",
        crate::row::schema::TABLE,
        columns.join(",\n")
    )
}

const PROVIDERS: [(&str, Option<&str>); 10] = [
    ("provider-123", Some("Northwind Fulfilment")),
    ("provider-204", Some("Müller Logistik GmbH")),
    ("provider-311", Some("Sakura Express 桜急便")),
    ("provider-420", Some("Lagos Last Mile")),
    ("provider-512", Some("Café Envíos S.A.")),
    ("provider-618", None),
    ("provider-733", Some("Fjord Freight AS")),
    ("provider-845", Some("  Blue Heron Supply  ")),
    ("provider-902", Some("Ωmega Couriers")),
    ("provider-999", Some("São Paulo Entregas")),
];

const NOTES: [Option<&str>; 12] = [
    Some("Paused after three missed SLA windows this week."),
    Some("Resumed: backlog cleared, on-time rate back above 97%."),
    Some("Escalated to vendor manager — repeated damaged parcels 📦"),
    Some("Customer complaints spiking in the north region; watch closely."),
    Some("Carrier strike announced; pausing until further notice."),
    Some("配送遅延のため一時停止。来週再評価。"),
    Some("Retour-Quote zu hoch, Eskalation an Account-Team."),
    Some("  Resumed after call with ops lead; see ticket OPS-4821.  "),
    Some("Line one\nline two: multi-line note from the admin UI"),
    Some("Quote \"test\" and backslash \\ survive export"),
    Some(""),
    None,
];

/// `platform_context` values as they appear in the real table, canonical and messy.
const CONTEXTS: [Option<&str>; 14] = [
    Some(
        r#"{"id":"ig-1001","label":"Instagram","handle":"@northwind","platformType":"instagram"}"#,
    ),
    Some(
        r#"{"id":"tt-2002","label":"TikTok Shop","handle":"@mueller.shop","platformType":"tiktok"}"#,
    ),
    Some(r#"{"id":"yt-3003","label":"YouTube","handle":null,"platformType":"youtube"}"#),
    Some(
        r#"{"platform_id":"ig-1001","name":"Instagram","username":"northwind","platform_type":"instagram"}"#,
    ),
    Some(r#"{"id":" fb-4004 ","label":"  Facebook ","handle":"","type":"facebook"}"#),
    Some(
        r#"{"id":5005,"label":"Shopify","slug":"cafe-envios","platformType":"shopify","followers":12000}"#,
    ),
    Some(r#"{"handle":"@orphan","platformType":"instagram"}"#),
    Some(r"{}"),
    Some(r#""instagram""#),
    Some(r#"["ig-1001","tt-2002"]"#),
    Some("null"),
    Some("42"),
    Some(r#""{\"id\":\"ig-7007\",\"label\":\"Instagram (legacy)\"}""#),
    None,
];

const ACTIONS: [&str; 8] = [
    "pause",
    "resume",
    "escalate",
    "pause",
    "resume",
    "Pause",
    " escalate ",
    "ESCALATE",
];

/// Creates the demo database at `path` unless it exists. The sample is the same on every
/// machine: a fixed seed, fixed start date, several weeks of follow-ups.
pub fn ensure(path: &Path) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".guardrail-demo-")
        .suffix(".sqlite")
        .tempfile_in(dir)
        .with_context(|| format!("creating the demo database in {}", dir.display()))?;
    {
        let mut conn = Connection::open(temp.path()).context("opening the new demo database")?;
        fill(&mut conn).context("filling the demo database")?;
    }
    temp.persist(path).map_err(|e| {
        anyhow::anyhow!(
            "saving the demo database to {}: {}",
            path.display(),
            e.error
        )
    })?;
    Ok(true)
}

/// Writes the sample into `conn`.
pub fn fill(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&sqlite_schema())?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO provider_guardrail_followup (id, provider_id, provider_name, action, notes, \
             platform_context, attachments, conversion_cursor, conversion_href, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(0x6a7d_2026);
        // Six weeks from Monday 5 January 2026, 00:00 UTC.
        let start = Timestamp::parse("2026-01-05T00:00:00Z")
            .expect("valid date")
            .micros();
        let span = 42 * 24 * 3600 * 1_000_000i64;
        let mut times: Vec<i64> = (0..DEMO_ROWS)
            .map(|_| start + rng.random_range(0..span))
            .collect();
        // Some follow-ups recorded in one transaction share their timestamp exactly.
        for i in (0..DEMO_ROWS).step_by(37) {
            let shared = times[i];
            for t in times.iter_mut().skip(i + 1).take(3) {
                *t = shared;
            }
        }
        times.sort_unstable();
        for (n, created) in times.into_iter().enumerate() {
            let id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
            let (provider_id, provider_name) = PROVIDERS[rng.random_range(0..PROVIDERS.len())];
            let action = ACTIONS[rng.random_range(0..ACTIONS.len())];
            let notes = NOTES[rng.random_range(0..NOTES.len())];
            let context = CONTEXTS[rng.random_range(0..CONTEXTS.len())];
            let conversion_cursor = rng
                .random_bool(0.6)
                .then(|| format!("conv_2026_{:06}", n * 7 + 11));
            let conversion_href = conversion_cursor
                .as_ref()
                .filter(|_| rng.random_bool(0.8))
                .map(|c| format!("https://admin.example.com/conversions/{c}"));
            insert.execute(rusqlite::params![
                id.to_string(),
                provider_id,
                provider_name,
                action,
                notes,
                context,
                rng.random_bool(0.2)
                    .then_some(r#"[{"name":"evidence.pdf"}]"#),
                conversion_cursor,
                conversion_href,
                Timestamp::from_micros(created).to_string(),
            ])?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::schema::{self, TABLE};

    #[test]
    fn the_sqlite_table_has_every_exported_column_with_its_nullability() {
        assert!(sqlite_schema().starts_with(&format!("CREATE TABLE {TABLE} (")));
        assert_eq!(schema::declares_every_column(&sqlite_schema()), Ok(()));
    }

    #[test]
    fn the_sample_fills_the_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        fill(&mut conn).unwrap();
        let rows: usize = conn
            .query_row(&format!("SELECT count(*) FROM {TABLE}"), [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(rows, DEMO_ROWS);
    }
}
