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

/// Webhook endpoint for `--sink webhook` (the runbook's name).
pub const WEBHOOK_URL: &str = "ANALYTICS_GUARDRAIL_WEBHOOK";
pub const WEBHOOK_SECRET: &str = "GUARDRAIL_EXPORT_WEBHOOK_SECRET";
pub const WEBHOOK_TOKEN: &str = "GUARDRAIL_EXPORT_WEBHOOK_TOKEN";
pub const WEBHOOK_TIMEOUT_SECONDS: &str = "GUARDRAIL_EXPORT_WEBHOOK_TIMEOUT_SECONDS";
pub const WEBHOOK_MAX_ATTEMPTS: &str = "GUARDRAIL_EXPORT_WEBHOOK_MAX_ATTEMPTS";
pub const WEBHOOK_GZIP: &str = "GUARDRAIL_EXPORT_WEBHOOK_GZIP";
pub const DEAD_LETTER_DIR: &str = "GUARDRAIL_EXPORT_DEAD_LETTER_DIR";
