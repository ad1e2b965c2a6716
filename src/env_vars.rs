//! Every environment variable the program reads, in one place. Names follow the ops runbook.

/// PostgreSQL (`postgres://…`) or SQLite (`sqlite://…`) URL of the source database.
pub const DATABASE_URL: &str = "DATABASE_URL";
pub const LIMIT: &str = "GUARDRAIL_EXPORT_LIMIT";
pub const PROVIDER_ID: &str = "GUARDRAIL_EXPORT_PROVIDER_ID";
pub const CURSOR: &str = "GUARDRAIL_EXPORT_CURSOR";
pub const SINK: &str = "GUARDRAIL_EXPORT_SINK";
pub const FILE_PATH: &str = "GUARDRAIL_EXPORT_FILE_PATH";
pub const CURSOR_STORE: &str = "GUARDRAIL_EXPORT_CURSOR_STORE";
pub const CURSOR_STORE_PATH: &str = "GUARDRAIL_EXPORT_CURSOR_STORE_PATH";
pub const SETTLE_SECONDS: &str = "GUARDRAIL_EXPORT_SETTLE_SECONDS";
pub const BATCH_SIZE: &str = "GUARDRAIL_EXPORT_BATCH_SIZE";
pub const LOG_FORMAT: &str = "GUARDRAIL_EXPORT_LOG_FORMAT";
pub const QUIET: &str = "GUARDRAIL_EXPORT_QUIET";
