//! Column for column: the docs' table against both tables, the COPY, the MERGE and the row.

use std::collections::BTreeSet;

use sqlparser::ast::{
    AssignmentTarget, ColumnOption, MergeAction, MergeClauseKind, MergeInsertKind, MergeUpdateKind,
    TableFactor,
};

use super::doc::{
    DocColumn, Source, documented_columns, documented_names, exported_row_keys, item_source,
    staging_columns,
};
use super::sql::{create_table, last_part, load_copy, load_merge};
use super::{DOC, KEY, STAGING, TABLE};
use guardrail_followups::row::Tombstone;

#[test]
fn the_documented_columns_are_the_columns_of_both_tables_in_order_with_type_and_nullability() {
    for (name, documented) in [(TABLE, documented_columns()), (STAGING, staging_columns())] {
        let table = create_table(name);
        let actual: Vec<(String, String, bool)> = table
            .columns
            .iter()
            .map(|column| {
                let nullable = !column
                    .options
                    .iter()
                    .any(|option| matches!(option.option, ColumnOption::NotNull));
                (
                    column.name.value.clone(),
                    column.data_type.to_string(),
                    nullable,
                )
            })
            .collect();
        let expected: Vec<(String, String, bool)> = documented
            .iter()
            .map(|c| (c.name.clone(), c.ty.clone(), c.nullable))
            .collect();
        assert_eq!(
            actual, expected,
            "CREATE TABLE {name} (01_tables.sql) and the column table of {DOC} differ: (column, type, nullable)"
        );
    }
    assert!(
        create_table(STAGING).transient,
        "{STAGING} should be TRANSIENT: it can be rebuilt from the lake"
    );
}

#[test]
fn the_copy_loads_every_documented_column_from_its_documented_source_in_order() {
    let copy = load_copy();
    assert_eq!(
        copy.into, STAGING,
        "04_load.sql should load the staging table"
    );
    let documented: Vec<DocColumn> = staging_columns();
    let names: Vec<&str> = documented.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        copy.columns, names,
        "the COPY's column list (04_load.sql) and the column table of {DOC} differ"
    );
    assert_eq!(
        copy.items.len(),
        copy.columns.len(),
        "the COPY selects {} values for {} columns: {:#?}",
        copy.items.len(),
        copy.columns.len(),
        copy.items
    );
    for (column, item) in documented.iter().zip(&copy.items) {
        assert_eq!(
            item_source(item),
            column.source,
            "column {} is documented as loaded from `{}`, but the COPY selects `{item}` for it",
            column.name,
            column.source.describe()
        );
    }
}

#[test]
fn every_json_path_of_the_copy_is_a_key_of_the_serialised_row_and_every_key_is_loaded() {
    let row_keys = exported_row_keys();
    // A tombstone's keys: its id and createdAt are a row's too, `deletedAt` is its own.
    let tombstone_keys: BTreeSet<Vec<String>> = Tombstone::KEYS
        .iter()
        .map(|key| vec![(*key).to_owned()])
        .collect();
    let copied: Vec<Vec<String>> = load_copy()
        .items
        .iter()
        .filter_map(|item| match item_source(item) {
            Source::Json(path) => Some(path),
            _ => None,
        })
        .collect();
    for path in &copied {
        assert!(
            row_keys.contains(path) || tombstone_keys.contains(path),
            "the COPY reads `$1:{}`, which is not a key of the exported row or a tombstone; the row has {:?}",
            path.join(":"),
            row_keys
        );
    }
    let copied: BTreeSet<Vec<String>> = copied.into_iter().collect();
    for key in row_keys.iter().chain(&tombstone_keys) {
        assert!(
            copied.contains(key),
            "the exported row has `{}`, which the COPY (04_load.sql) does not load",
            key.join(".")
        );
    }
}

#[test]
fn the_merge_inserts_every_documented_column_and_updates_all_but_the_key() {
    let merge = load_merge();
    let source_alias = match &merge.source {
        TableFactor::Derived { alias, .. } => alias.as_ref().unwrap().name.value.clone(),
        _ => panic!("the MERGE source should be a subquery"),
    };
    let documented = documented_names();
    assert_eq!(
        merge.clauses.len(),
        3,
        "MERGE should have exactly WHEN MATCHED … DELETE (a tombstone), WHEN MATCHED … UPDATE \
         and WHEN NOT MATCHED"
    );

    let mut updated = None;
    let mut inserted = None;
    let mut deleted = false;
    for clause in &merge.clauses {
        // Every clause has a condition (a tombstone or not; a copy older than the stored one
        // does not replace it); what they do is proven by the executed tests in `executed`.
        let predicate = clause
            .predicate
            .as_ref()
            .unwrap_or_else(|| panic!("no condition on `{clause}`"))
            .to_string();
        assert!(predicate.contains("deleted_at"), "{clause}");
        match (&clause.clause_kind, &clause.action) {
            (MergeClauseKind::Matched, MergeAction::Delete { .. }) => deleted = true,
            (MergeClauseKind::Matched, MergeAction::Update(update)) => {
                let MergeUpdateKind::Set(assignments) = &update.kind else {
                    panic!("WHEN MATCHED should SET each column")
                };
                let pairs: Vec<(String, String)> = assignments
                    .iter()
                    .map(|a| {
                        let AssignmentTarget::ColumnName(name) = &a.target else {
                            panic!("one column per assignment: {a}")
                        };
                        (last_part(&name.to_string()), a.value.to_string())
                    })
                    .collect();
                updated = Some(pairs);
            }
            (MergeClauseKind::NotMatched, MergeAction::Insert(insert)) => {
                let MergeInsertKind::Values(values) = &insert.kind else {
                    panic!("WHEN NOT MATCHED should INSERT VALUES")
                };
                assert_eq!(values.rows.len(), 1);
                let columns: Vec<String> = insert.columns.iter().map(|c| c.to_string()).collect();
                let values: Vec<String> = values.rows[0]
                    .content
                    .iter()
                    .map(|v| v.to_string())
                    .collect();
                inserted = Some((columns, values));
            }
            _ => panic!("unexpected MERGE clause `{clause}`"),
        }
    }

    assert!(deleted, "WHEN MATCHED AND <a tombstone> THEN DELETE");
    let (columns, values) = inserted.expect("WHEN NOT MATCHED THEN INSERT");
    assert_eq!(
        columns, documented,
        "the MERGE's INSERT columns and {DOC} differ"
    );
    let expected: Vec<String> = documented
        .iter()
        .map(|c| format!("{source_alias}.{c}"))
        .collect();
    assert_eq!(
        values, expected,
        "each inserted column takes the source's same column"
    );

    let updated = updated.expect("WHEN MATCHED THEN UPDATE");
    let expected: Vec<(String, String)> = documented
        .iter()
        .filter(|c| *c != KEY)
        .map(|c| (c.clone(), format!("{source_alias}.{c}")))
        .collect();
    assert_eq!(
        updated, expected,
        "WHEN MATCHED should set every documented column but the key from the source's same column"
    );
}
