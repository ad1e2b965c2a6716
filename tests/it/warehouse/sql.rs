//! Reading `warehouse/snowflake/*.sql`: splitting scripts into statements, parsing them with
//! sqlparser's Snowflake dialect, and finding the statements the tests look at.

use std::path::{Path, PathBuf};

use regex::Regex;
use sqlparser::ast::helpers::key_value_options::KeyValueOptions;
use sqlparser::ast::{CreateTable, Merge, Statement};
use sqlparser::dialect::SnowflakeDialect;
use sqlparser::parser::Parser;

use super::SQL_DIR;

/// Statement kinds sqlparser 0.64 cannot parse in the Snowflake dialect. Statements of these
/// kinds get structural checks instead (`load::the_stream_…`, `load::the_tasks_…`), and any other
/// statement must parse.
const NOT_PARSED_BY_SQLPARSER: [&str; 4] = [
    "CREATE STREAM",
    "CREATE OR REPLACE TASK",
    "ALTER TASK",
    "CREATE OR REPLACE PIPE",
];

#[test]
fn the_sql_files_are_numbered_and_each_opens_with_a_comment_saying_what_it_does() {
    let files = sql_files();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    for (index, name) in names.iter().enumerate() {
        let expected_prefix = format!("{:02}_", index + 1);
        assert!(
            name.starts_with(&expected_prefix),
            "{SQL_DIR}/{name} should start with {expected_prefix}: files run in name order, 01 first, no gaps ({names:?})"
        );
        let opening = format!("-- {name} — ");
        assert!(
            files[index].text.starts_with(&opening),
            "{SQL_DIR}/{name} should open with `{opening}<what it does>`"
        );
    }
    for required in [
        "01_tables.sql",
        "02_file_format.sql",
        "03_stage.sql",
        "04_load.sql",
        "05_merge.sql",
    ] {
        assert!(names.contains(&required), "{SQL_DIR}/{required} is missing");
    }
}

#[test]
fn every_statement_parses_with_the_snowflake_dialect_unless_sqlparser_lacks_its_kind() {
    let mut parsed = 0;
    let mut not_parsed = Vec::new();
    for file in sql_files() {
        for statement in &file.statements {
            match &statement.parsed {
                Ok(_) => parsed += 1,
                Err(error) => {
                    let kind = NOT_PARSED_BY_SQLPARSER
                        .iter()
                        .find(|kind| statement.text.starts_with(*kind));
                    assert!(
                        kind.is_some(),
                        "{}: this statement does not parse with sqlparser's Snowflake dialect: {error}\n{}",
                        file.name,
                        statement.text
                    );
                    not_parsed.push(statement.text.clone());
                }
            }
        }
    }
    assert!(parsed >= 10, "only {parsed} statements were parsed");
    // The statements sqlparser cannot parse are exactly those the structural tests below check.
    // 01: the stream; 06: three tasks, two ALTER TASK … SUSPEND, three … RESUME; 08: the pipe
    // and its six ALTER TASKs.
    let expected = 1 + 3 + 5 + 1 + 6;
    assert_eq!(
        not_parsed.len(),
        expected,
        "statements left to structural checks: {not_parsed:#?}"
    );
}

#[test]
fn no_sql_file_truncates_a_table_because_that_forgets_the_load_metadata() {
    for file in sql_files() {
        for statement in &file.statements {
            assert!(
                !matches!(statement.parsed, Ok(Statement::Truncate { .. })),
                "{}: TRUNCATE erases COPY's load metadata, so the next load would load every object again; use DELETE\n{}",
                file.name,
                statement.text
            );
        }
    }
}

#[test]
fn the_statement_splitter_ignores_semicolons_in_comments_strings_and_dollar_blocks() {
    let sql = "-- a; comment\nSELECT 'x;y' AS \"a;b\"; /* c; */ SELECT 2;\nCREATE TASK t AS $$ BEGIN SELECT 1; END; $$;\n-- trailing;";
    assert_eq!(
        split_statements(sql),
        vec![
            "SELECT 'x;y' AS \"a;b\"",
            "SELECT 2",
            "CREATE TASK t AS $$ BEGIN SELECT 1; END; $$"
        ]
    );
}

pub(super) struct SqlFile {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) statements: Vec<SqlStatement>,
}

pub(super) struct SqlStatement {
    /// The statement without comments, trimmed, without its `;`.
    pub(super) text: String,
    pub(super) parsed: Result<Statement, String>,
}

pub(super) fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub(super) fn read(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `.sql` files of the warehouse folder, in name order (the order to run them).
pub(super) fn sql_files() -> Vec<SqlFile> {
    let dir = repo_path(SQL_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    names.sort();
    names.iter().map(|name| sql_file(name)).collect()
}

pub(super) fn sql_file(name: &str) -> SqlFile {
    let text = read(&format!("{SQL_DIR}/{name}"));
    let statements = split_statements(&text)
        .into_iter()
        .map(|text| SqlStatement {
            parsed: parse(&text),
            text,
        })
        .collect();
    SqlFile {
        name: name.to_owned(),
        text,
        statements,
    }
}

pub(super) fn parse(statement: &str) -> Result<Statement, String> {
    let mut statements =
        Parser::parse_sql(&SnowflakeDialect {}, statement).map_err(|e| e.to_string())?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        n => Err(format!("expected one statement, parsed {n}")),
    }
}

/// Splits a script at the `;` that end statements: not those inside '…' strings, "…"
/// identifiers, `$$…$$` blocks, `--` or `/* */` comments. Comments are dropped.
pub(super) fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('-', Some('-')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            ('/', Some('*')) => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
                current.push(' ');
                continue;
            }
            ('$', Some('$')) => {
                current.push_str("$$");
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '$' && chars[i + 1] == '$') {
                    current.push(chars[i]);
                    i += 1;
                }
                current.push_str("$$");
                i += 2;
                continue;
            }
            ('\'' | '"', _) => {
                current.push(c);
                i += 1;
                while i < chars.len() {
                    current.push(chars[i]);
                    i += 1;
                    if chars[i - 1] == c {
                        // A doubled quote is an escaped quote, not the end.
                        if chars.get(i) == Some(&c) {
                            current.push(c);
                            i += 1;
                            continue;
                        }
                        break;
                    }
                }
                continue;
            }
            (';', _) => {
                statements.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
        i += 1;
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The one parsed statement of `file` that satisfies `wanted`.
pub(super) fn statement_where(file: &str, wanted: impl Fn(&Statement) -> bool) -> Statement {
    let found: Vec<Statement> = sql_file(file)
        .statements
        .into_iter()
        .filter_map(|s| s.parsed.ok())
        .filter(|s| wanted(s))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one such statement in {file}"
    );
    found.into_iter().next().unwrap()
}

/// The statements of `file` that start with `kind` and that sqlparser cannot parse.
pub(super) fn unparsed_statements(file: &str, kind: &str) -> Vec<String> {
    sql_file(file)
        .statements
        .into_iter()
        .filter(|s| s.text.starts_with(kind))
        .map(|s| {
            assert!(
                s.parsed.is_err(),
                "sqlparser now parses `{kind}`: check it with the parser instead"
            );
            s.text
        })
        .collect()
}

/// A task's parameters and its body: what comes before and after the line holding only `AS`.
pub(super) fn split_task(task: &str) -> (String, String) {
    let separator = Regex::new(r"(?m)^AS$").unwrap();
    let found = separator
        .find(task)
        .unwrap_or_else(|| panic!("a task's body should follow a line holding only AS:\n{task}"));
    (
        task[..found.start()].to_owned(),
        task[found.end()..].trim().to_owned(),
    )
}

pub(super) fn create_table(name: &str) -> CreateTable {
    let statement = statement_where(
        "01_tables.sql",
        |s| matches!(s, Statement::CreateTable(t) if t.name.to_string() == name),
    );
    let Statement::CreateTable(table) = statement else {
        unreachable!()
    };
    table
}

pub(super) struct CopyInto {
    pub(super) into: String,
    pub(super) columns: Vec<String>,
    pub(super) from: String,
    /// The select list, each item as sqlparser prints it (`$1:followUpId::STRING`).
    pub(super) items: Vec<String>,
    pub(super) pattern: Option<String>,
    pub(super) file_format: KeyValueOptions,
    pub(super) copy_options: KeyValueOptions,
}

pub(super) fn load_copy() -> CopyInto {
    let statement = statement_where("04_load.sql", |s| {
        matches!(s, Statement::CopyIntoSnowflake { .. })
    });
    let Statement::CopyIntoSnowflake {
        into,
        into_columns,
        from_obj,
        from_transformations,
        pattern,
        file_format,
        copy_options,
        ..
    } = statement
    else {
        unreachable!()
    };
    CopyInto {
        into: into.to_string(),
        columns: into_columns
            .expect("the COPY should name its columns")
            .iter()
            .map(|c| c.value.clone())
            .collect(),
        from: from_obj.expect("the COPY should read a stage").to_string(),
        items: from_transformations
            .expect("the COPY should SELECT the columns out of each line")
            .iter()
            .map(|item| item.to_string())
            .collect(),
        pattern,
        file_format,
        copy_options,
    }
}

pub(super) fn load_merge() -> Merge {
    let statement = statement_where("05_merge.sql", |s| matches!(s, Statement::Merge(_)));
    let Statement::Merge(merge) = statement else {
        unreachable!()
    };
    merge
}

/// The value of option `name` (quotes removed), if set.
pub(super) fn option(options: &KeyValueOptions, name: &str) -> Option<String> {
    options.options.iter().find_map(|o| {
        let text = o.to_string();
        let value = text.strip_prefix(&format!("{name}="))?;
        Some(value.trim_matches('\'').to_owned())
    })
}

pub(super) fn last_part(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_owned()
}
