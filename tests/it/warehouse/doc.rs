//! The column table of `docs/data-lake.md`, where each column comes from, and the keys of the
//! row the exporter really serialises.

use std::collections::BTreeSet;

use guardrail_followups::row::{FollowUp, PlatformContext};
use guardrail_followups::time::Timestamp;
use regex::Regex;

use super::sql::read;
use super::{DOC, KEY, TABLE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A key path in the NDJSON line: `["platformContext", "id"]`.
    Json(Vec<String>),
    /// A Snowflake load metadata column such as `METADATA$FILENAME`.
    Metadata(String),
}

impl Source {
    pub(super) fn describe(&self) -> String {
        match self {
            Source::Json(path) => path.join("."),
            Source::Metadata(name) => name.clone(),
        }
    }
}

/// Where a COPY select item takes its value: the `$1:a:b` path it reads, or the metadata column.
pub(super) fn item_source(item: &str) -> Source {
    let metadata = Regex::new(r"^METADATA\$[A-Z_]+$").unwrap();
    if metadata.is_match(item) {
        return Source::Metadata(item.to_owned());
    }
    let paths: Vec<Vec<String>> = Regex::new(r"\$1((?::[A-Za-z_][A-Za-z0-9_]*)+)")
        .unwrap()
        .captures_iter(item)
        .map(|c| c[1].split(':').skip(1).map(str::to_owned).collect())
        .collect();
    assert_eq!(
        paths.len(),
        1,
        "a COPY item should read one `$1:…` path or be a METADATA$ column: `{item}`"
    );
    Source::Json(paths.into_iter().next().unwrap())
}

/// The key paths of a real serialised row, every optional field set so that nested keys show.
pub(super) fn exported_row_keys() -> BTreeSet<Vec<String>> {
    let row = FollowUp {
        provider_name: Some("Acme".into()),
        notes: Some("late".into()),
        platform_context: Some(PlatformContext {
            id: Some("ig-1".into()),
            label: Some("Instagram".into()),
            handle: Some("@acme".into()),
            platform_type: Some("instagram".into()),
        }),
        conversion_cursor: Some("c1".into()),
        conversion_href: Some("https://example.test/c1".into()),
        ..FollowUp::new(
            "0b6f5a2e-6d1c-4a53-9a5e-2f0c8d1e7b11".parse().unwrap(),
            "provider-123",
            "pause",
            Timestamp::parse("2026-01-22T04:00:00Z").unwrap(),
        )
    };
    let value = serde_json::to_value(&row).unwrap();
    let mut keys = BTreeSet::new();
    for (key, value) in value.as_object().expect("a row is a JSON object") {
        match value.as_object() {
            Some(nested) => {
                for inner in nested.keys() {
                    keys.insert(vec![key.clone(), inner.clone()]);
                }
            }
            None => {
                keys.insert(vec![key.clone()]);
            }
        }
    }
    keys
}

pub(super) struct DocColumn {
    pub(super) name: String,
    pub(super) ty: String,
    pub(super) nullable: bool,
    pub(super) source: Source,
}

pub(super) fn documented_names() -> Vec<String> {
    documented_columns().into_iter().map(|c| c.name).collect()
}

/// The columns of the staging table: the documented ones, nullable but the key, `created_at`
/// and the load's own columns (a staged tombstone leaves the others null), then the columns
/// only it has.
pub(super) fn staging_columns() -> Vec<DocColumn> {
    let mut columns = documented_columns();
    for column in &mut columns {
        let kept = column.name == KEY
            || column.name == "created_at"
            || matches!(column.source, Source::Metadata(_));
        column.nullable = column.nullable || !kept;
    }
    let first = columns.len() + 1;
    columns.extend(column_table(
        "### Columns only the staging table has",
        first,
    ));
    columns
}

pub(super) fn staging_names() -> Vec<String> {
    staging_columns().into_iter().map(|c| c.name).collect()
}

/// The rows of the table under "## Columns of `analytics.guardrail_followups`".
pub(super) fn documented_columns() -> Vec<DocColumn> {
    let columns = column_table(&format!("## Columns of `{TABLE}`"), 1);
    assert!(
        columns.iter().any(|c| c.name == KEY),
        "{DOC} documents no {KEY} column"
    );
    columns
}

/// The column table under `heading`, numbered from `first`.
fn column_table(heading: &str, first: usize) -> Vec<DocColumn> {
    let doc = read(DOC);
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("{DOC} should have a section `{heading}`"));
    let mut lines = doc[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'));
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|cell| cell.trim().trim_matches('`').to_owned())
            .collect()
    };
    let header = cells(lines.next().expect("column table header"));
    assert_eq!(
        header,
        ["#", "Column", "Type", "Null", "Source", "Meaning"],
        "the column table of {DOC} changed its header"
    );
    lines.next(); // |---|---|…
    let columns: Vec<DocColumn> = lines
        .enumerate()
        .map(|(index, line)| {
            let cells = cells(line);
            assert_eq!(
                cells.len(),
                6,
                "a row of the column table has 6 cells: {line}"
            );
            assert_eq!(
                cells[0],
                (index + first).to_string(),
                "the column table is numbered 1, 2, 3…: {line}"
            );
            let nullable = match cells[3].as_str() {
                "yes" => true,
                "no" => false,
                other => panic!("Null is `yes` or `no`, not `{other}`: {line}"),
            };
            assert!(
                !cells[5].is_empty(),
                "column {} has no meaning: {line}",
                cells[1]
            );
            let source = if cells[4].starts_with("METADATA$") {
                Source::Metadata(cells[4].clone())
            } else {
                Source::Json(cells[4].split('.').map(str::to_owned).collect())
            };
            DocColumn {
                name: cells[1].clone(),
                ty: cells[2].clone(),
                nullable,
                source,
            }
        })
        .collect();
    columns
}
