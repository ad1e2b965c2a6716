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
/// Batches the webhook sink has in flight at once.
pub const WEBHOOK_CONCURRENCY: &str = "GUARDRAIL_EXPORT_WEBHOOK_CONCURRENCY";
pub const DEAD_LETTER_DIR: &str = "GUARDRAIL_EXPORT_DEAD_LETTER_DIR";

/// The ingest gateway (`guardrail-followups gateway`).
pub const GATEWAY_LISTEN: &str = "GUARDRAIL_GATEWAY_LISTEN";
pub const GATEWAY_LAKE: &str = "GUARDRAIL_GATEWAY_LAKE";
pub const GATEWAY_SECRET: &str = "GUARDRAIL_GATEWAY_SECRET";
pub const GATEWAY_TOKEN: &str = "GUARDRAIL_GATEWAY_TOKEN";
pub const GATEWAY_MAX_BODY_BYTES: &str = "GUARDRAIL_GATEWAY_MAX_BODY_BYTES";
pub const GATEWAY_S3_ENDPOINT: &str = "GUARDRAIL_GATEWAY_S3_ENDPOINT";
pub const GATEWAY_LOG_FORMAT: &str = "GUARDRAIL_GATEWAY_LOG_FORMAT";
pub const GATEWAY_MAX_BYTES_IN_FLIGHT: &str = "GUARDRAIL_GATEWAY_MAX_BYTES_IN_FLIGHT";
pub const GATEWAY_MAX_CONNECTIONS: &str = "GUARDRAIL_GATEWAY_MAX_CONNECTIONS";
pub const GATEWAY_HEADER_TIMEOUT_SECONDS: &str = "GUARDRAIL_GATEWAY_HEADER_TIMEOUT_SECONDS";
pub const GATEWAY_SHUTDOWN_TIMEOUT_SECONDS: &str = "GUARDRAIL_GATEWAY_SHUTDOWN_TIMEOUT_SECONDS";
pub const GATEWAY_MAX_CONNECTIONS_PER_CLIENT: &str = "GUARDRAIL_GATEWAY_MAX_CONNECTIONS_PER_CLIENT";
pub const GATEWAY_MIN_BODY_RATE_BYTES: &str = "GUARDRAIL_GATEWAY_MIN_BODY_RATE_BYTES";
pub const GATEWAY_MAX_BYTES_IN_FLIGHT_PER_CLIENT: &str =
    "GUARDRAIL_GATEWAY_MAX_BYTES_IN_FLIGHT_PER_CLIENT";
/// Reverse proxies (IPs or CIDRs, comma-separated) whose `X-Forwarded-For` the gateway
/// believes for its per-client limits.
pub const GATEWAY_TRUSTED_PROXIES: &str = "GUARDRAIL_GATEWAY_TRUSTED_PROXIES";
/// The standard AWS region variable, read for an `s3://` lake and the admin page's `s3://` URLs.
pub const AWS_REGION: &str = "AWS_REGION";

/// `s3://bucket/key` of the cursor for `--cursor-store s3` (the runbook's name).
pub const CURSOR_S3_URI: &str = "GUARDRAIL_EXPORT_CURSOR_S3_URI";
pub const S3_ENDPOINT: &str = "GUARDRAIL_EXPORT_S3_ENDPOINT";
/// The runbook's names for the exporter's AWS settings; the standard `AWS_*` ones apply when unset.
pub const AWS_ACCESS_KEY_ID: &str = "GUARDRAIL_EXPORT_AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "GUARDRAIL_EXPORT_AWS_SECRET_ACCESS_KEY";
pub const EXPORT_AWS_REGION: &str = "GUARDRAIL_EXPORT_AWS_REGION";
/// Where the status JSON for the admin page is written (file or s3://).
pub const STATUS_PATH: &str = "GUARDRAIL_EXPORT_STATUS_PATH";
pub const DOWNLOAD_URL: &str = "GUARDRAIL_EXPORT_DOWNLOAD_URL";
/// Folder or `s3://bucket/prefix` where each run's delivered rows are archived.
pub const ARCHIVE_URI: &str = "GUARDRAIL_EXPORT_ARCHIVE_URI";
/// The status' `workflowUrl`; the admin page's "View workflow" link reads it too, overriding
/// the status.
pub const WORKFLOW_URL: &str = "GUARDRAIL_EXPORT_WORKFLOW_URL";
pub const SLACK_WEBHOOK: &str = "GUARDRAIL_EXPORT_SLACK_WEBHOOK";
/// The Prometheus textfile written after every run.
pub const METRICS_PATH: &str = "GUARDRAIL_EXPORT_METRICS_PATH";
/// `reconcile --days`: the window a scheduled reconcile compares.
pub const RECONCILE_DAYS: &str = "GUARDRAIL_RECONCILE_DAYS";
/// `reconcile --metrics-path`: its own textfile, never the export's.
pub const RECONCILE_METRICS_PATH: &str = "GUARDRAIL_RECONCILE_METRICS_PATH";

/// The ops page (`guardrail-followups admin`). The `GUARDRAIL_EXPORT_*` names follow the runbook.
pub const ADMIN_LISTEN: &str = "GUARDRAIL_ADMIN_LISTEN";
/// Where the exporter publishes its status JSON: an http(s) URL or a local file.
pub const EXPORT_STATUS_URL: &str = "GUARDRAIL_EXPORT_STATUS_URL";
/// The workflow-dispatch endpoint that "Run export now" POSTs to.
pub const EXPORT_TRIGGER_URL: &str = "GUARDRAIL_EXPORT_TRIGGER_URL";
pub const EXPORT_TRIGGER_TOKEN: &str = "GUARDRAIL_EXPORT_TRIGGER_TOKEN";
pub const EXPORT_TRIGGER_REF: &str = "GUARDRAIL_EXPORT_TRIGGER_REF";
/// The password of the admin page's login form.
pub const ADMIN_PASSWORD: &str = "GUARDRAIL_ADMIN_PASSWORD";
/// Signs session cookies; set it so sessions survive restarts and are shared by replicas.
pub const ADMIN_SESSION_KEY: &str = "GUARDRAIL_ADMIN_SESSION_KEY";
pub const ADMIN_STALE_AFTER_MINUTES: &str = "GUARDRAIL_ADMIN_STALE_AFTER_MINUTES";
pub const ADMIN_STATUS_CACHE_SECONDS: &str = "GUARDRAIL_ADMIN_STATUS_CACHE_SECONDS";
pub const ADMIN_LOG_FORMAT: &str = "GUARDRAIL_ADMIN_LOG_FORMAT";
/// Reverse proxies (IPs or CIDRs, comma-separated) whose `X-Forwarded-*` headers the admin
/// page believes.
pub const ADMIN_TRUSTED_PROXIES: &str = "GUARDRAIL_ADMIN_TRUSTED_PROXIES";
/// S3-compatible endpoint for the admin page's `s3://` status and download URLs.
pub const ADMIN_S3_ENDPOINT: &str = "GUARDRAIL_ADMIN_S3_ENDPOINT";
/// The ops page's Slack alerts about the feed (off unless the webhook is set).
pub const ADMIN_ALERT_SLACK_WEBHOOK: &str = "GUARDRAIL_ADMIN_ALERT_SLACK_WEBHOOK";
pub const ADMIN_ALERT_POLL_SECONDS: &str = "GUARDRAIL_ADMIN_ALERT_POLL_SECONDS";
pub const ADMIN_ALERT_BEHIND_MINUTES: &str = "GUARDRAIL_ADMIN_ALERT_BEHIND_MINUTES";
pub const ADMIN_ALERT_STATE_PATH: &str = "GUARDRAIL_ADMIN_ALERT_STATE_PATH";
pub const ADMIN_TRIGGER_FILE: &str = "GUARDRAIL_ADMIN_TRIGGER_FILE";
pub const ADMIN_ARCHIVE_DIR: &str = "GUARDRAIL_ADMIN_ARCHIVE_DIR";
/// The ops page's connection limits, as the gateway's.
pub const ADMIN_MAX_CONNECTIONS: &str = "GUARDRAIL_ADMIN_MAX_CONNECTIONS";
pub const ADMIN_MAX_CONNECTIONS_PER_CLIENT: &str = "GUARDRAIL_ADMIN_MAX_CONNECTIONS_PER_CLIENT";
pub const ADMIN_HEADER_TIMEOUT_SECONDS: &str = "GUARDRAIL_ADMIN_HEADER_TIMEOUT_SECONDS";
pub const ADMIN_MIN_BODY_RATE_BYTES: &str = "GUARDRAIL_ADMIN_MIN_BODY_RATE_BYTES";
pub const ADMIN_SHUTDOWN_TIMEOUT_SECONDS: &str = "GUARDRAIL_ADMIN_SHUTDOWN_TIMEOUT_SECONDS";
/// The late-row audit and the hold-back before open transactions.
pub const AUDIT_WINDOW_SECONDS: &str = "GUARDRAIL_EXPORT_AUDIT_WINDOW_SECONDS";
pub const AUDIT_BUCKET_SECONDS: &str = "GUARDRAIL_EXPORT_AUDIT_BUCKET_SECONDS";
pub const HOLD_BACK_SECONDS: &str = "GUARDRAIL_EXPORT_HOLD_BACK_SECONDS";
/// How long the S3 cursor store's lease lasts without renewal.
pub const CURSOR_LEASE_SECONDS: &str = "GUARDRAIL_EXPORT_CURSOR_LEASE_SECONDS";
/// How long a read from PostgreSQL may make no progress.
pub const DB_READ_TIMEOUT_SECONDS: &str = "GUARDRAIL_EXPORT_DB_READ_TIMEOUT_SECONDS";

/// Whether `name` is one of the variables this program reads.
pub fn is_ours(name: &str) -> bool {
    name.starts_with("GUARDRAIL_") || matches!(name, DATABASE_URL | WEBHOOK_URL | AWS_REGION)
}
