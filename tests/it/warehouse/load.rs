//! How the load works: what the COPY reads, how the MERGE deduplicates, the stream, the tasks.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use guardrail_followups::gateway::lake::Lake;
use guardrail_followups::wire;
use object_store::path::Path as ObjectPath;
use regex::Regex;
use sqlparser::ast::{Expr, SetExpr, Statement, TableFactor};

use super::doc::staging_names;
use super::sql::{
    load_copy, load_merge, option, parse, read, split_statements, split_task, sql_file,
    statement_where, unparsed_statements,
};
use super::{DOC, FILE_FORMAT, KEY, STAGE, STAGING, STREAM, TABLE};

#[test]
fn the_copy_reads_the_gateway_objects_as_ndjson_and_aborts_on_the_first_error() {
    let copy = load_copy();
    assert_eq!(copy.from, format!("@{STAGE}"));
    assert_eq!(
        option(&copy.file_format, "FORMAT_NAME").as_deref(),
        Some(FILE_FORMAT)
    );
    assert_eq!(
        option(&copy.copy_options, "ON_ERROR").as_deref(),
        Some("ABORT_STATEMENT")
    );

    // The PATTERN must match, as a whole, the objects the gateway writes and nothing else.
    // Snowflake matches it against the object's whole path, hence the leading `.*`.
    let pattern = copy.pattern.expect("the COPY should have a PATTERN");
    let pattern = Regex::new(&format!("^(?:{pattern})$")).unwrap();
    let key = wire::idempotency_key(b"{\"followUpId\":\"x\"}\n");
    let date = NaiveDate::from_ymd_opt(2026, 1, 22).unwrap();
    let object = format!("s3://bucket/prefix/{}", Lake::batch_key(date, &key));
    assert!(
        pattern.is_match(&object),
        "PATTERN does not match the gateway's object {object}"
    );
    // Nor an object `reconcile --repair` moved out of the lake for its foreign rows.
    let quarantined = guardrail_followups::reconcile::quarantine_key(
        &ObjectPath::from("prefix/guardrail_followups"),
        &ObjectPath::from(format!("prefix/{}", Lake::batch_key(date, &key))),
    );
    for other in [
        format!("s3://bucket/{quarantined}"),
        format!("{object}.tmp"),
        format!("s3://bucket/prefix/guardrail_followups/dt=2026-01-22/.{key}.ndjson.tmp"),
        format!("s3://bucket/prefix/guardrail_followups/{key}.ndjson"),
        "s3://bucket/prefix/guardrail_followups/dt=2026-01-22/notes.txt".to_owned(),
    ] {
        assert!(
            !pattern.is_match(&other),
            "PATTERN should not match {other}"
        );
    }

    let file_format = statement_where("02_file_format.sql", |s| {
        matches!(s, Statement::CreateFileFormat { .. })
    });
    let Statement::CreateFileFormat { name, options, .. } = file_format else {
        unreachable!()
    };
    assert_eq!(name.to_string(), FILE_FORMAT);
    assert_eq!(option(&options, "TYPE").as_deref(), Some("JSON"));
    assert_ne!(
        option(&options, "STRIP_OUTER_ARRAY")
            .as_deref()
            .map(str::to_uppercase),
        Some("TRUE".to_owned()),
        "an NDJSON object has no outer array to strip"
    );

    let stage = statement_where("03_stage.sql", |s| {
        matches!(s, Statement::CreateStage { .. })
    });
    let Statement::CreateStage {
        name,
        stage_params,
        file_format,
        ..
    } = stage
    else {
        unreachable!()
    };
    assert_eq!(name.to_string(), STAGE);
    let url = stage_params.url.clone().expect("the stage needs a URL");
    assert!(
        url.starts_with("s3://") && url.ends_with("/guardrail_followups/"),
        "the stage URL should be the gateway's s3://<bucket>/<prefix>/guardrail_followups/, not {url}"
    );
    assert!(
        stage_params.storage_integration.is_some(),
        "the stage should read through a storage integration, not with keys"
    );
    assert_eq!(
        option(&file_format, "FORMAT_NAME").as_deref(),
        Some(FILE_FORMAT)
    );
}

#[test]
fn the_merge_is_keyed_by_follow_up_id_and_keeps_one_row_per_follow_up_of_the_batch() {
    let merge = load_merge();
    let (target, target_alias) = match &merge.table {
        TableFactor::Table { name, alias, .. } => (
            name.to_string(),
            alias
                .as_ref()
                .map(|a| a.name.value.clone())
                .expect("target alias"),
        ),
        other => panic!("MERGE INTO should name the table, not {other}"),
    };
    assert_eq!(target, TABLE);
    let TableFactor::Derived {
        subquery, alias, ..
    } = &merge.source
    else {
        panic!(
            "MERGE should read a subquery over the stream, not {}",
            merge.source
        )
    };
    let source_alias = alias
        .as_ref()
        .map(|a| a.name.value.clone())
        .expect("source alias");

    // ON t.follow_up_id = s.follow_up_id, nothing else.
    let Expr::BinaryOp { left, op, right } = merge.on.as_ref() else {
        panic!("MERGE ON should be one equality, not {}", merge.on)
    };
    assert_eq!(op.to_string(), "=");
    let sides = BTreeSet::from([left.to_string(), right.to_string()]);
    assert_eq!(
        sides,
        BTreeSet::from([
            format!("{target_alias}.{KEY}"),
            format!("{source_alias}.{KEY}")
        ]),
        "the MERGE must be keyed by {KEY}, not by {}",
        merge.on
    );

    // The source: the stream, one row per follow_up_id.
    let SetExpr::Select(select) = subquery.body.as_ref() else {
        panic!("the MERGE source should be a plain SELECT")
    };
    assert_eq!(select.from.len(), 1);
    assert_eq!(
        select.from[0].relation.to_string(),
        STREAM,
        "the MERGE should read the stream, so each staged row is merged once"
    );
    assert!(
        select.qualify.is_some(),
        "the MERGE source needs QUALIFY to keep one row per follow_up_id"
    );
    let projection: Vec<String> = select.projection.iter().map(|i| i.to_string()).collect();
    assert_eq!(
        projection,
        staging_names(),
        "the MERGE source selects other columns than {DOC} documents for the staging table"
    );
}

#[test]
fn the_stream_is_append_only_on_the_staging_table() {
    let stream = unparsed_statements("01_tables.sql", "CREATE STREAM");
    assert_eq!(stream.len(), 1);
    let shape = Regex::new(&format!(
        r"^CREATE STREAM IF NOT EXISTS {}\s+ON TABLE {}\s+APPEND_ONLY = TRUE\b",
        regex::escape(STREAM),
        regex::escape(STAGING)
    ))
    .unwrap();
    assert!(
        shape.is_match(&stream[0]),
        "expected CREATE STREAM IF NOT EXISTS {STREAM} ON TABLE {STAGING} APPEND_ONLY = TRUE, found\n{}",
        stream[0]
    );
}

#[test]
fn the_tasks_run_exactly_the_statements_of_the_load_and_merge_files_in_order() {
    let tasks = unparsed_statements("06_task.sql", "CREATE OR REPLACE TASK");
    let head = Regex::new(r"^CREATE OR REPLACE TASK (\S+)\s").unwrap();
    let mut bodies = Vec::new();
    let mut names = Vec::new();
    for task in &tasks {
        let name = head
            .captures(task)
            .unwrap_or_else(|| panic!("expected CREATE OR REPLACE TASK <name>: {task}"))[1]
            .to_owned();
        let (params, body) = split_task(task);
        assert!(
            params.contains("WAREHOUSE = "),
            "task {name} should name its warehouse"
        );
        let body = parse(&body).unwrap_or_else(|e| panic!("task {name}'s body: {e}\n{body}"));
        names.push((name, params));
        bodies.push(body.to_string());
    }

    let expected: Vec<String> = ["04_load.sql", "05_merge.sql"]
        .iter()
        .flat_map(|file| sql_file(file).statements)
        .map(|s| {
            s.parsed
                .unwrap_or_else(|e| panic!("{e}: {}", s.text))
                .to_string()
        })
        .collect();
    assert_eq!(
        bodies.len(),
        expected.len(),
        "06_task.sql should have one task per statement of 04_load.sql and 05_merge.sql"
    );
    for ((name, _), (body, statement)) in names.iter().zip(bodies.iter().zip(&expected)) {
        assert_eq!(
            body, statement,
            "task {name} (06_task.sql) should run the statement of 04_load.sql/05_merge.sql unchanged"
        );
    }

    // load (scheduled) → merge (when the stream has rows) → prune.
    assert_eq!(names.len(), 3);
    assert!(
        names[0].1.contains("SCHEDULE = 'USING CRON "),
        "the load task should be scheduled: {}",
        names[0].1
    );
    assert!(names[1].1.contains(&format!("AFTER {}", names[0].0)));
    assert!(
        names[1]
            .1
            .contains(&format!("WHEN SYSTEM$STREAM_HAS_DATA('{STREAM}')"))
    );
    assert!(names[2].1.contains(&format!("AFTER {}", names[1].0)));

    // The root is suspended before the graph is replaced, and the dependants are resumed
    // before the root, or the root would start a partial graph.
    let alters = unparsed_statements("06_task.sql", "ALTER TASK");
    let mut expected = vec![
        format!("ALTER TASK IF EXISTS {} SUSPEND", names[0].0),
        format!("ALTER TASK IF EXISTS {} SUSPEND", names[1].0),
    ];
    expected.extend(
        names
            .iter()
            .rev()
            .map(|(name, _)| format!("ALTER TASK {name} RESUME")),
    );
    assert_eq!(alters, expected);
}

#[test]
fn the_pipe_runs_the_copy_of_the_load_file_with_the_error_handling_a_pipe_accepts() {
    let pipes = unparsed_statements("08_pipe.sql", "CREATE OR REPLACE PIPE");
    assert_eq!(pipes.len(), 1);
    let (params, body) = split_task(&pipes[0]);
    assert!(params.contains("AUTO_INGEST = TRUE"), "{params}");
    let copy = sql_file("04_load.sql").statements[0].text.clone();
    let expected = copy.replace("ON_ERROR = 'ABORT_STATEMENT'", "ON_ERROR = 'SKIP_FILE'");
    assert_ne!(
        copy, expected,
        "04_load.sql's COPY sets ON_ERROR = 'ABORT_STATEMENT'"
    );
    assert_eq!(
        parse(&body).unwrap().to_string(),
        parse(&expected).unwrap().to_string(),
        "08_pipe.sql should run the COPY of 04_load.sql, with ON_ERROR = 'SKIP_FILE' (pipes refuse ABORT_STATEMENT)"
    );
    // With the pipe, the merge is scheduled on its own and the load task stays suspended.
    let alters = unparsed_statements("08_pipe.sql", "ALTER TASK");
    assert_eq!(
        alters.first().map(String::as_str),
        Some("ALTER TASK IF EXISTS analytics.guardrail_followups_load SUSPEND")
    );
    assert!(
        alters
            .iter()
            .any(|a| a.contains("guardrail_followups_merge SET SCHEDULE = 'USING CRON ")),
        "{alters:#?}"
    );
    assert_eq!(
        alters.last().map(String::as_str),
        Some("ALTER TASK analytics.guardrail_followups_merge RESUME")
    );
}

#[test]
fn the_duplicate_check_in_the_docs_is_the_first_check_and_groups_by_follow_up_id() {
    let doc = read(DOC);
    let block = Regex::new(r"(?s)```sql\n(SELECT follow_up_id, COUNT\(\*\).*?)```")
        .unwrap()
        .captures(&doc)
        .unwrap_or_else(|| panic!("{DOC} should show the duplicate check as a ```sql block"))[1]
        .to_owned();
    let in_doc = parse(&split_statements(&block)[0]).unwrap();
    let first_check = sql_file("07_checks.sql").statements[0]
        .parsed
        .clone()
        .unwrap();
    assert_eq!(in_doc.to_string(), first_check.to_string());
    let text = in_doc.to_string();
    assert!(
        text.contains(&format!("FROM {TABLE} GROUP BY {KEY} HAVING COUNT(*) > 1")),
        "{text}"
    );
}
