//! The Snowflake SQL of `warehouse/snowflake/` against `docs/data-lake.md` and the exported row.
//!
//! Snowflake cannot run here, so these tests check what can be checked without it: the syntax of
//! every statement with sqlparser's Snowflake dialect (where sqlparser supports the statement's
//! kind, structure otherwise), the documented columns against both tables, the COPY and the MERGE
//! column for column and in order, the COPY's JSON paths against a really serialised `FollowUp`,
//! and that the scheduled tasks run exactly the statements of the load and merge files.
//!
//! `sql` reads and parses the SQL files, `doc` reads the column table of the docs; `columns`
//! holds the column-for-column tests, `load` the tests of how the load works.

mod columns;
mod doc;
mod load;
mod sql;

const SQL_DIR: &str = "warehouse/snowflake";
const DOC: &str = "docs/data-lake.md";
const TABLE: &str = "analytics.guardrail_followups";
const STAGING: &str = "analytics.guardrail_followups_staging";
const STREAM: &str = "analytics.guardrail_followups_staging_new";
const STAGE: &str = "analytics.guardrail_followups_stage";
const FILE_FORMAT: &str = "analytics.guardrail_followups_ndjson";
const KEY: &str = "follow_up_id";
