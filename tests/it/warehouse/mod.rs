//! The Snowflake SQL of `warehouse/snowflake/` against `docs/data-lake.md`, the exported row and
//! the source table.
//!
//! Executed: `executed` and `mutations` run the SQL on fakesnow, a Snowflake emulator on DuckDB
//! (`tests/warehouse/harness.py`, driven by `emulator`; installed by `scripts/with-fakesnow.sh`),
//! over a lake that the real exporter and gateway wrote from a real PostgreSQL table (`feed`).
//! After each step of the load the analytics table must equal the source table column for
//! column. harness.py says which statements run as written, which are rewritten and how (the
//! COPY's stage listing, PATTERN, load metadata and METADATA$ columns; the stream), and which are
//! only checked for structure (tasks are emulated; the pipe, stage queries, copy_history and
//! task_history are not run).
//!
//! Parsed: `sql` reads and parses the SQL files (sqlparser's Snowflake dialect where it supports
//! the statement's kind, structure otherwise), `doc` reads the column table of the docs;
//! `columns` holds the column-for-column tests of the docs against the SQL and the row, `load`
//! the structure of the COPY, MERGE, stream, tasks and pipe.

mod columns;
mod doc;
mod emulator;
mod executed;
mod feed;
mod load;
mod mutations;
mod sql;

const SQL_DIR: &str = "warehouse/snowflake";
const DOC: &str = "docs/data-lake.md";
const TABLE: &str = "analytics.guardrail_followups";
const STAGING: &str = "analytics.guardrail_followups_staging";
const STREAM: &str = "analytics.guardrail_followups_staging_new";
const STAGE: &str = "analytics.guardrail_followups_stage";
const FILE_FORMAT: &str = "analytics.guardrail_followups_ndjson";
const KEY: &str = "follow_up_id";
