//! The export's flags — source, sink, cursor store, S3, archive, report, output — each group shared
//! with `check` and `cursor` where they need it (validated in `validate.rs`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use secrecy::{ExposeSecret, SecretString};

use crate::env_vars as env;
use crate::logging::LogFormat;
use crate::redact::{Scrubber, Secrets};

#[derive(Debug, Args)]
#[command(next_help_heading = "Run")]
pub struct ExportArgs {
    /// Export at most N rows in this run (0 = everything pending); a backlog drains over runs.
    #[arg(long, env = env::LIMIT, default_value_t = 0, value_name = "N")]
    pub limit: u64,

    /// Export only this provider's follow-ups. A cursor is bound to its filter.
    #[arg(long, env = env::PROVIDER_ID, value_name = "ID")]
    pub provider_id: Option<String>,

    /// Start point: a timestamp (rows at or after it) or TIMESTAMP/FOLLOW-UP-ID (rows strictly
    /// after that row). Overrides the stored cursor; the store is updated after the run.
    #[arg(long, env = env::CURSOR, value_name = "TS")]
    pub cursor: Option<String>,

    /// Ignore the stored cursor (even a corrupt or mismatched one) and start from the beginning,
    /// or from --cursor when given. The store is overwritten after the run.
    #[arg(long)]
    pub reset_cursor: bool,

    /// Only export rows at least this old, on the database clock, so that transactions still
    /// open when the run starts are not passed over (0 to 604800, a week).
    #[arg(long, env = env::SETTLE_SECONDS, default_value_t = 60, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(0..=604_800))]
    pub settle_seconds: u64,

    /// Rows per batch: the unit the sink acknowledges and the cursor advances by.
    #[arg(long, env = env::BATCH_SIZE, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,

    /// Late-row audit: how far back each run compares what it delivered with the source and
    /// delivers rows that committed after the cursor passed them (0 turns the audit off; at
    /// most 2592000, 30 days).
    #[arg(long, env = env::AUDIT_WINDOW_SECONDS, default_value_t = 86_400, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(0..=2_592_000))]
    pub audit_window_seconds: u64,

    /// Late-row audit: the time bucket whose rows are fingerprinted together (and delivered
    /// again together when they differ).
    #[arg(long, env = env::AUDIT_BUCKET_SECONDS, default_value_t = 60, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub audit_bucket_seconds: u64,

    /// PostgreSQL: stop each run before the start of the oldest transaction still open in the
    /// database (when the role may see it in pg_stat_activity), ignoring transactions open
    /// longer than this (0 turns it off; at most 604800, a week).
    #[arg(long, env = env::HOLD_BACK_SECONDS, default_value_t = 3_600, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(0..=604_800))]
    pub hold_back_seconds: u64,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub sink: SinkArgs,

    #[command(flatten)]
    pub cursor_store: CursorStoreArgs,

    #[command(flatten)]
    pub archive: ArchiveArgs,

    #[command(flatten)]
    pub report: ReportArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where a copy of each run's delivered rows is kept.
#[derive(Debug, Args)]
#[command(next_help_heading = "Archive")]
pub struct ArchiveArgs {
    /// Keep a copy of the rows each run delivered, whatever the sink, in this folder or under
    /// s3://bucket/prefix: latest.ndjson (the last run that delivered rows) and
    /// runs/YYYY/MM/DD/<start>.ndjson. The status' downloadUrl then points at latest.ndjson.
    #[arg(long, env = env::ARCHIVE_URI, value_name = "DIR|URI")]
    pub archive_uri: Option<String>,
}

/// Where follow-ups are read from.
#[derive(Debug, Args)]
#[command(next_help_heading = "Source")]
pub struct SourceArgs {
    /// Source database: postgres://user:pass@host/db?sslmode=verify-full&sslrootcert=ca.pem or
    /// libpq's `host=… dbname=…` form (production; PGHOST, PGUSER, PGPASSWORD, PGSSLMODE… fill
    /// in what it leaves out), or sqlite://path (local work).
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true, value_name = "URL")]
    pub database_url: Option<SecretString>,

    /// A read from PostgreSQL that makes no progress for this long fails the run (exit 1); the
    /// cursor keeps what was delivered. Raise it if a first export of a huge table without the
    /// (created_at, id) index sorts for longer.
    #[arg(long, env = env::DB_READ_TIMEOUT_SECONDS, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub db_read_timeout_seconds: u64,

    /// Use the demo database ./guardrail-demo.sqlite, created with a fixed sample when missing.
    /// Takes precedence over --database-url.
    #[arg(long)]
    pub demo: bool,
}

/// Where rows go.
#[derive(Debug, Args)]
#[command(next_help_heading = "Sink")]
pub struct SinkArgs {
    /// Where rows go.
    #[arg(long, env = env::SINK, value_enum, default_value_t = SinkKind::Stdout)]
    pub sink: SinkKind,

    /// NDJSON file for --sink file; replaced atomically with this run's rows.
    #[arg(long, env = env::FILE_PATH, value_name = "PATH")]
    pub file_path: Option<PathBuf>,

    /// Endpoint for --sink webhook: each batch is POSTed as {"followUps": [...]}.
    #[arg(long, env = env::WEBHOOK_URL, hide_env_values = true, value_name = "URL")]
    pub webhook_url: Option<SecretString>,

    /// Shared secret (12+ characters): sign each request with X-Guardrail-Signature v2
    /// (HMAC-SHA256 over the timestamp, Idempotency-Key, Content-Encoding and body; see README).
    #[arg(long, env = env::WEBHOOK_SECRET, hide_env_values = true, value_name = "SECRET")]
    pub webhook_secret: Option<SecretString>,

    /// Bearer token (12+ characters) sent as `Authorization: Bearer <TOKEN>`.
    #[arg(long, env = env::WEBHOOK_TOKEN, hide_env_values = true, value_name = "TOKEN")]
    pub webhook_token: Option<SecretString>,

    /// Time allowed for one webhook request, connection included.
    #[arg(long, env = env::WEBHOOK_TIMEOUT_SECONDS, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub webhook_timeout_seconds: u64,

    /// Attempts per batch before the run gives up (connection errors, timeouts, 408, 429 and
    /// 5xx are retried with exponential backoff and jitter, honouring Retry-After).
    #[arg(long, env = env::WEBHOOK_MAX_ATTEMPTS, default_value_t = 6, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_max_attempts: u32,

    /// Batches POSTed at once, each with its own retries (1 = one at a time). The cursor moves
    /// only over the batches acknowledged in order, so a crash resends at most this many.
    #[arg(long, env = env::WEBHOOK_CONCURRENCY, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub webhook_concurrency: u16,

    /// Gzip request bodies (Content-Encoding: gzip).
    #[arg(long, env = env::WEBHOOK_GZIP)]
    pub webhook_gzip: bool,

    /// Folder for batches the webhook refused (4xx), kept for inspection.
    #[arg(long, env = env::DEAD_LETTER_DIR, default_value = ".", value_name = "DIR")]
    pub dead_letter_dir: PathBuf,
}

/// Where the cursor is kept.
#[derive(Debug, Args)]
#[command(next_help_heading = "Cursor store")]
pub struct CursorStoreArgs {
    /// Where the cursor is kept between runs.
    #[arg(long, env = env::CURSOR_STORE, value_enum, default_value_t = CursorStoreKind::None)]
    pub cursor_store: CursorStoreKind,

    /// Cursor file for --cursor-store file. A lock file `<PATH>.lock` beside it keeps runs apart.
    #[arg(
        long,
        env = env::CURSOR_STORE_PATH,
        value_name = "PATH",
        default_value = "guardrail_followups_cursor.json"
    )]
    pub cursor_store_path: PathBuf,

    /// Cursor object for --cursor-store s3: s3://bucket/path/guardrail_followups_cursor.json.
    /// A lease object `<URI>.lock` keeps runs apart.
    #[arg(long, env = env::CURSOR_S3_URI, value_name = "URI")]
    pub cursor_store_uri: Option<String>,

    /// --cursor-store s3: how long the lease lasts without renewal. A live run renews it every
    /// third of this; a crashed run's lease blocks others until it expires.
    #[arg(long, env = env::CURSOR_LEASE_SECONDS, default_value_t = 900, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(10..=3600))]
    pub cursor_lease_seconds: u64,

    #[command(flatten)]
    pub s3: S3Args,
}

/// How to reach S3 (cursor store, archive and status file). Unset values come from the
/// standard AWS_* variables.
#[derive(Debug, Args)]
pub struct S3Args {
    /// S3-compatible endpoint (MinIO…), e.g. http://127.0.0.1:9000; AWS when unset.
    #[arg(long, env = env::S3_ENDPOINT, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Region of the buckets (else AWS_REGION).
    #[arg(long, env = env::EXPORT_AWS_REGION, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// Access key id (else AWS_ACCESS_KEY_ID).
    #[arg(long, env = env::AWS_ACCESS_KEY_ID, hide_env_values = true, value_name = "ID")]
    pub s3_access_key_id: Option<String>,

    /// Secret access key (else AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = env::AWS_SECRET_ACCESS_KEY, hide_env_values = true, value_name = "KEY")]
    pub s3_secret_access_key: Option<SecretString>,
}

/// What a run reports, besides its summary line.
#[derive(Debug, Args)]
#[command(next_help_heading = "Reporting")]
pub struct ReportArgs {
    /// After each successful run, write the status JSON {cursor, rows, updatedAt, downloadUrl,
    /// workflowUrl} that the admin page reads, to a file (a path or file:///path) or an
    /// s3://bucket/key.
    #[arg(long, env = env::STATUS_PATH, value_name = "PATH|URI")]
    pub status_path: Option<String>,

    /// The status' downloadUrl: where the latest NDJSON can be fetched (with --archive-uri,
    /// its latest.ndjson when unset; this wins when set).
    #[arg(long, env = env::DOWNLOAD_URL, value_name = "URL")]
    pub download_url: Option<String>,

    /// The status' workflowUrl; inside GitHub Actions the run's own page when unset.
    #[arg(long, env = env::WORKFLOW_URL, value_name = "URL")]
    pub workflow_url: Option<String>,

    /// Slack incoming webhook: a message after each run, success or failure. Slack trouble
    /// never fails the export.
    #[arg(long, env = env::SLACK_WEBHOOK, hide_env_values = true, value_name = "URL")]
    pub slack_webhook: Option<SecretString>,

    /// After every run, successful or not, replace this Prometheus textfile (for
    /// node_exporter's textfile collector) atomically. Trouble writing it never fails the export.
    #[arg(long, env = env::METRICS_PATH, value_name = "PATH")]
    pub metrics_path: Option<String>,
}

/// Logs and progress.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// No progress bar and no summary line; warnings and errors are still printed.
    #[arg(long, short, env = env::QUIET)]
    pub quiet: bool,

    /// Log lines on stderr as text or as JSON objects (for Datadog, filebeat…).
    #[arg(long, env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SinkKind {
    /// NDJSON on stdout.
    Stdout,
    /// NDJSON file at --file-path.
    File,
    /// POST batches to --webhook-url (the ingest gateway).
    Webhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CursorStoreKind {
    /// Keep nothing: every run starts from --cursor or the beginning.
    None,
    /// A JSON file at --cursor-store-path.
    File,
    /// An S3 object at --cursor-store-uri.
    S3,
}

impl Secrets for SourceArgs {
    /// The password of a postgres:// URL or of a libpq key=value string, and PGPASSWORD.
    fn hide(&self, scrubber: &mut Scrubber) {
        if let Some(url) = &self.database_url {
            let url = url.expose_secret();
            scrubber.add_url(url);
            for secret in crate::pg::secrets(url) {
                scrubber.add(&secret);
            }
        }
    }
}

impl Secrets for SinkArgs {
    fn hide(&self, scrubber: &mut Scrubber) {
        if let Some(url) = &self.webhook_url {
            scrubber.add_url(url.expose_secret());
        }
        scrubber.add_secrets([&self.webhook_secret, &self.webhook_token]);
    }
}

impl Secrets for S3Args {
    fn hide(&self, scrubber: &mut Scrubber) {
        scrubber.add_secrets([&self.s3_secret_access_key]);
    }
}

impl Secrets for ReportArgs {
    /// The Slack incoming webhook's URL is a credential as a whole.
    fn hide(&self, scrubber: &mut Scrubber) {
        if let Some(slack) = &self.slack_webhook {
            scrubber.add_secret_url(slack.expose_secret());
        }
    }
}

impl Secrets for ExportArgs {
    fn hide(&self, scrubber: &mut Scrubber) {
        self.source.hide(scrubber);
        self.sink.hide(scrubber);
        self.cursor_store.s3.hide(scrubber);
        self.report.hide(scrubber);
    }
}
