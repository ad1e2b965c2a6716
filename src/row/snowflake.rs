//! The Snowflake SQL's column lists, generated from [`super::schema::COLUMNS`]: the tables'
//! columns, the COPY's target list and its `$1:path` expressions, and the MERGE's lists.
//!
//! The files in `warehouse/snowflake/` stay plain SQL that people read and run; each list in
//! them sits between a marker line naming what it lists and an end line:
//!
//! ```sql
//!     -- generated from src/row/schema.rs: names
//!     follow_up_id,
//!     …
//!     -- end of generated lines
//! ```
//!
//! [`regenerate`] rewrites what is between the markers; a unit test fails when a checked-in
//! file differs from it, and `UPDATE_WAREHOUSE_SQL=1 cargo test --lib row::snowflake` writes
//! the files. Every generated line ends with a comma: the load's own columns (`source_file`,
//! `loaded_at`, `source_file_modified_at`) follow each list by hand.
//!
//! Written by hand: a few string templates, which no SQL builder would make shorter.

use super::Tombstone;
use super::schema::{COLUMNS, Warehouse};

/// The line that starts a generated list: `-- generated from src/row/schema.rs: <kind>`.
pub const MARKER: &str = "-- generated from src/row/schema.rs: ";
/// The line that ends it.
pub const END: &str = "-- end of generated lines";

/// The format of an exported timestamp, as Snowflake's `TO_TIMESTAMP_NTZ` reads it.
const TIMESTAMP_FORMAT: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'"#;

/// Every warehouse column with whether it may be NULL, in export order.
pub fn columns() -> impl Iterator<Item = (&'static Warehouse, bool)> {
    COLUMNS
        .iter()
        .flat_map(|c| c.warehouse.iter().map(move |w| (w, c.nullable)))
}

/// Whether a staged tombstone holds a value in `column` (its id and `createdAt`): the staging
/// table's other columns are nullable, because a tombstone leaves them null.
fn in_tombstone(column: &Warehouse) -> bool {
    Tombstone::KEYS.contains(&column.path)
}

/// `name  TYPE  NOT NULL,` as in CREATE TABLE.
fn definition(column: &Warehouse, nullable: bool) -> String {
    let not_null = if nullable { "" } else { "NOT NULL" };
    format!("{:<23} {:<16} {not_null}", column.name, column.sql_type)
        .trim_end()
        .to_owned()
        + ","
}

/// The lines of one list, without indentation; `None` for an unknown kind.
fn lines(kind: &str) -> Option<Vec<String>> {
    let key = COLUMNS[0].warehouse[0].name;
    let all = columns();
    Some(match kind.split_whitespace().collect::<Vec<_>>()[..] {
        ["table"] => all.map(|(w, nullable)| definition(w, nullable)).collect(),
        ["staging-table"] => all
            .map(|(w, nullable)| definition(w, nullable || !in_tombstone(w)))
            .collect(),
        // The staging table of a deployment from before tombstones.
        ["drop-not-null", table] => all
            .filter(|(w, nullable)| !nullable && !in_tombstone(w))
            .map(|(w, _)| format!("ALTER TABLE {table} ALTER COLUMN {} DROP NOT NULL;", w.name))
            .collect(),
        // Columns an older deployment may lack; NOT NULL ones cannot be added to a loaded table.
        ["add-columns", table] => all
            .filter(|(_, nullable)| *nullable)
            .map(|(w, _)| {
                format!(
                    "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {} {};",
                    w.name, w.sql_type
                )
            })
            .collect(),
        ["names"] => all.map(|(w, _)| format!("{},", w.name)).collect(),
        ["load"] => all.map(|(w, _)| format!("{},", load(w))).collect(),
        ["update"] => all
            .filter(|(w, _)| w.name != key)
            .map(|(w, _)| format!("t.{0} = s.{0},", w.name))
            .collect(),
        ["values"] => all.map(|(w, _)| format!("s.{},", w.name)).collect(),
        _ => return None,
    })
}

/// The COPY's expression for `column`: `$1:path::STRING`, a timestamp parsed in its exact form.
fn load(column: &Warehouse) -> String {
    let text = format!("$1:{}::STRING", column.path);
    if column.sql_type.starts_with("TIMESTAMP_NTZ") {
        format!("TO_TIMESTAMP_NTZ({text}, {TIMESTAMP_FORMAT})")
    } else {
        text
    }
}

/// `sql` with every generated list rewritten from the schema.
pub fn regenerate(sql: &str) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql.lines();
    while let Some(line) = rest.next() {
        out.push_str(line);
        out.push('\n');
        let Some(kind) = line.trim_start().strip_prefix(MARKER) else {
            continue;
        };
        let indent = &line[..line.len() - line.trim_start().len()];
        let generated = lines(kind).ok_or_else(|| format!("unknown generated list `{kind}`"))?;
        for generated in generated {
            out.push_str(indent);
            out.push_str(&generated);
            out.push('\n');
        }
        let end = rest
            .by_ref()
            .find(|l| l.trim() == END)
            .ok_or_else(|| format!("`{line}` has no `{END}` after it"))?;
        out.push_str(end);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_snowflake_files_are_generated_from_the_schema() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("warehouse/snowflake");
        let update = std::env::var_os("UPDATE_WAREHOUSE_SQL").is_some();
        let mut stale = Vec::new();
        let mut lists = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let sql = std::fs::read_to_string(&path).unwrap();
            lists += sql.matches(MARKER).count();
            let current = regenerate(&sql).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if current != sql {
                if update {
                    std::fs::write(&path, current).unwrap();
                } else {
                    stale.push(path.display().to_string());
                }
            }
        }
        assert!(
            lists >= 13,
            "every column list is generated ({lists} found)"
        );
        assert!(
            stale.is_empty(),
            "{stale:?} differ from src/row/schema.rs: run \
             UPDATE_WAREHOUSE_SQL=1 cargo test --lib row::snowflake, then review the diff"
        );
    }

    #[test]
    fn a_list_is_rewritten_between_its_markers_and_nothing_else_moves() {
        let sql = "SELECT\n    -- generated from src/row/schema.rs: names\n    stale,\n    \
                   -- end of generated lines\n    source_file\nFROM t;\n";
        let names: String = columns()
            .map(|(w, _)| format!("    {},\n", w.name))
            .collect();
        assert_eq!(
            regenerate(sql).unwrap(),
            format!(
                "SELECT\n    -- generated from src/row/schema.rs: names\n{names}    \
                 -- end of generated lines\n    source_file\nFROM t;\n"
            )
        );
        assert!(regenerate("-- generated from src/row/schema.rs: names\nx\n").is_err());
        assert!(
            regenerate(
                "-- generated from src/row/schema.rs: nonsense\n-- end of generated lines\n"
            )
            .is_err()
        );
    }

    #[test]
    fn timestamps_load_in_their_exact_form_and_text_as_it_is() {
        let load = lines("load").unwrap();
        assert_eq!(load[0], "$1:followUpId::STRING,");
        assert!(
            load.contains(
                &r#"TO_TIMESTAMP_NTZ($1:createdAt::STRING, 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'),"#
                    .to_owned()
            )
        );
        assert!(load.contains(&"$1:platformContext:platformType::STRING,".to_owned()));
        assert!(
            !lines("update")
                .unwrap()
                .iter()
                .any(|l| l.contains("follow_up_id"))
        );
        assert_eq!(
            lines("table").unwrap()[0],
            "follow_up_id            VARCHAR(36)      NOT NULL,"
        );
        assert_eq!(
            lines("table").unwrap()[2],
            "provider_name           VARCHAR,"
        );
    }
}
