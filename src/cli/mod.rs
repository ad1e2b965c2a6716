//! Command-line flags: every flag, its environment variable and its help text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cursor::{CursorStoreConfig, Position};
use crate::env_vars as env;
use crate::error::Error;
use crate::export::ExportConfig;
use crate::export::audit::AuditConfig;
use crate::export::retry::Backoff;
use crate::export::sink::{SinkConfig, WebhookConfig};
use crate::export::source::SourceConfig;
use crate::logging::LogFormat;
use crate::s3::{S3Options, S3Uri};
use secrecy::SecretString;

mod admin;
mod gateway;

pub use admin::AdminArgs;
pub use gateway::GatewayArgs;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (including \"nothing new to export\")
  1  runtime failure (database, sink, disk); the cursor covers only what was delivered
  2  usage or configuration error (bad flag, no database, unusable cursor file); nothing was done
  3  another run holds the cursor's lock; nothing was done";

/// Keeps the guardrail follow-ups feed synchronized with analytics.
#[derive(Debug, Parser)]
#[command(name = "guardrail-followups", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export new follow-ups, oldest first, from where the cursor stopped.
    ///
    /// Rows are read in (created_at, id) order, only once they are older than the settle window,
    /// and the cursor advances only over rows the sink has acknowledged. Logs, progress and the
    /// summary go to stderr; stdout carries rows only.
    #[command(after_help = EXIT_CODES)]
    Export(ExportArgs),
    /// Verify a configuration without exporting anything.
    ///
    /// Checks that the database is reachable and the table readable, that the (created_at, id)
    /// index exists, that the cursor store can be read and written, and that the webhook answers.
    /// Prints one line per check (ok / problem, with the fix) and exits 1 if any check failed.
    Check(CheckArgs),
    /// Inspect or move the cursor: `show`, `set TS` (backfills), `reset`.
    #[command(subcommand)]
    Cursor(CursorCommand),
    /// Receive webhook batches and land them as NDJSON objects in a lake (folder or S3).
    ///
    /// POST /v1/followups takes {"followUps": [...]}, checks the signature or bearer token,
    /// validates every row, and answers 200 only once the batch is durable at
    /// guardrail_followups/dt=YYYY-MM-DD/<idempotency-key>.ndjson. Also GET /healthz and
    /// GET /metrics. Stops gracefully on SIGTERM or Ctrl-C.
    Gateway(GatewayArgs),
    /// Serve the ops page: /admin/reports with the "Guardrail export health" card.
    ///
    /// The card reads the exporter's status JSON (GUARDRAIL_EXPORT_STATUS_URL), offers the
    /// latest NDJSON at /api/reporting/guardrail-followups/export (streamed from the status'
    /// downloadUrl) and, when GUARDRAIL_EXPORT_TRIGGER_URL and GUARDRAIL_EXPORT_TRIGGER_TOKEN are
    /// set, a "Run export now" button that dispatches the export workflow. Every page needs the
    /// password (--password); without one the page listens on loopback only.
    Admin(AdminArgs),
}

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
    pub report: ReportArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The provider filter the cursor should be bound to.
    #[arg(long, env = env::PROVIDER_ID, value_name = "ID")]
    pub provider_id: Option<String>,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub sink: SinkArgs,

    #[command(flatten)]
    pub cursor_store: CursorStoreArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum CursorCommand {
    /// Print the stored cursor and, with a database, how far behind the table it is.
    Show(CursorArgs),
    /// Move the cursor to a timestamp (rows at or after it are exported next) or to
    /// TIMESTAMP/FOLLOW-UP-ID (rows strictly after that row). For backfills and skips.
    Set {
        /// The new position.
        #[arg(value_name = "TS")]
        position: String,
        #[command(flatten)]
        args: CursorArgs,
    },
    /// Forget the position: the next export starts from the beginning of the table.
    Reset(CursorArgs),
    /// Remove the S3 cursor's lease left by a run that is gone (crashed, killed, its host
    /// down), so the next export need not wait for it to expire. A lease of a process still
    /// running on this host is never removed; one of another host only with --force.
    Unlock {
        /// Remove a lease held by another host that has not expired (you know it is down).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        args: CursorArgs,
    },
}

#[derive(Debug, Args)]
pub struct CursorArgs {
    #[command(flatten)]
    pub cursor_store: CursorStoreArgs,

    /// The provider filter the cursor belongs to.
    #[arg(long, env = env::PROVIDER_ID, value_name = "ID")]
    pub provider_id: Option<String>,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where follow-ups are read from.
#[derive(Debug, Args)]
#[command(next_help_heading = "Source")]
pub struct SourceArgs {
    /// Source database: postgres://user:pass@host/db?sslmode=verify-full&sslrootcert=ca.pem or
    /// libpq's `host=… dbname=…` form (production; PGHOST, PGUSER, PGPASSWORD, PGSSLMODE… fill
    /// in what it leaves out), or sqlite://path (local work).
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

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
    pub webhook_url: Option<String>,

    /// Shared secret: sign each request with X-Guardrail-Signature (HMAC-SHA256 over
    /// "<unix seconds>.<body>"; see README).
    #[arg(long, env = env::WEBHOOK_SECRET, hide_env_values = true, value_name = "SECRET")]
    pub webhook_secret: Option<String>,

    /// Bearer token sent as `Authorization: Bearer <TOKEN>`.
    #[arg(long, env = env::WEBHOOK_TOKEN, hide_env_values = true, value_name = "TOKEN")]
    pub webhook_token: Option<String>,

    /// Time allowed for one webhook request, connection included.
    #[arg(long, env = env::WEBHOOK_TIMEOUT_SECONDS, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub webhook_timeout_seconds: u64,

    /// Attempts per batch before the run gives up (connection errors, timeouts, 408, 429 and
    /// 5xx are retried with exponential backoff and jitter, honouring Retry-After).
    #[arg(long, env = env::WEBHOOK_MAX_ATTEMPTS, default_value_t = 6, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_max_attempts: u32,

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

/// How to reach S3 (cursor store and status file). Unset values come from the standard AWS_*
/// variables.
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
    pub s3_secret_access_key: Option<String>,
}

/// What a run reports, besides its summary line.
#[derive(Debug, Args)]
#[command(next_help_heading = "Reporting")]
pub struct ReportArgs {
    /// After each successful run, write the status JSON {cursor, rows, updatedAt, downloadUrl,
    /// workflowUrl} that the admin page reads, to a file or an s3:// URI.
    #[arg(long, env = env::STATUS_PATH, value_name = "PATH|URI")]
    pub status_path: Option<String>,

    /// The status' downloadUrl: where the latest NDJSON can be fetched.
    #[arg(long, env = env::DOWNLOAD_URL, value_name = "URL")]
    pub download_url: Option<String>,

    /// The status' workflowUrl; inside GitHub Actions the run's own page when unset.
    #[arg(long, env = env::WORKFLOW_URL, value_name = "URL")]
    pub workflow_url: Option<String>,

    /// Slack incoming webhook: a message after each run, success or failure. Slack trouble
    /// never fails the export.
    #[arg(long, env = env::SLACK_WEBHOOK, hide_env_values = true, value_name = "URL")]
    pub slack_webhook: Option<String>,
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

impl SourceArgs {
    /// The source database; `--demo` wins over a configured URL.
    pub fn config(&self) -> Result<SourceConfig, Error> {
        if self.demo {
            return Ok(SourceConfig::Sqlite(PathBuf::from(crate::demo::DEMO_PATH)));
        }
        match self.database_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => {
                let mut config = SourceConfig::from_url(url)?;
                if let SourceConfig::Postgres(pg) = &mut config {
                    pg.read_timeout = std::time::Duration::from_secs(self.db_read_timeout_seconds);
                }
                Ok(config)
            }
            _ => Err(Error::config(
                "no database: set DATABASE_URL (or --database-url) to postgres://… or sqlite://…, \
                 or pass --demo to try the bundled sample",
            )),
        }
    }
}

impl CursorStoreArgs {
    pub fn config(&self) -> Result<CursorStoreConfig, Error> {
        Ok(match self.cursor_store {
            CursorStoreKind::None => CursorStoreConfig::None,
            CursorStoreKind::File => CursorStoreConfig::File(self.cursor_store_path.clone()),
            CursorStoreKind::S3 => {
                let raw = self
                    .cursor_store_uri
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty());
                let raw = raw.ok_or_else(|| {
                    Error::config("--cursor-store s3 needs --cursor-store-uri s3://bucket/key.json (or GUARDRAIL_EXPORT_CURSOR_S3_URI)")
                })?;
                let uri = S3Uri::parse(raw, false)
                    .map_err(|e| Error::config(format!("--cursor-store-uri: {e}")))?;
                CursorStoreConfig::S3 {
                    uri,
                    options: self.s3.options(),
                    lease: std::time::Duration::from_secs(self.cursor_lease_seconds),
                }
            }
        })
    }
}

impl S3Args {
    pub fn options(&self) -> S3Options {
        let set = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        S3Options {
            endpoint: set(&self.s3_endpoint),
            region: set(&self.s3_region),
            access_key_id: set(&self.s3_access_key_id),
            secret_access_key: set(&self.s3_secret_access_key).map(SecretString::from),
        }
    }
}

impl ExportArgs {
    /// Validates the flags into a typed configuration before any work starts.
    pub fn into_config(self, stderr_is_terminal: bool) -> Result<ExportConfig, Error> {
        let source = self.source.config()?;
        let sink = match self.sink.sink {
            SinkKind::Stdout => SinkConfig::Stdout,
            SinkKind::File => match &self.sink.file_path {
                Some(path) => SinkConfig::File(path.clone()),
                None => return Err(Error::config("--sink file needs --file-path PATH")),
            },
            SinkKind::Webhook => SinkConfig::Webhook(webhook_config(&self.sink, self.source.demo)?),
        };
        let start = match self.cursor.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Some(
                Position::parse(text)
                    .map_err(|reason| Error::config(format!("--cursor: {reason}")))?,
            ),
            _ => None,
        };
        let provider_id = self
            .provider_id
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
        Ok(ExportConfig {
            source,
            sink,
            cursor_store: self.cursor_store.config()?,
            limit: (self.limit > 0).then_some(self.limit),
            provider_id,
            start,
            reset_cursor: self.reset_cursor,
            settle: Duration::from_secs(self.settle_seconds),
            batch_size: self.batch_size,
            audit: AuditConfig {
                window: Duration::from_secs(self.audit_window_seconds),
                bucket: Duration::from_secs(self.audit_bucket_seconds),
            },
            hold_back: (self.hold_back_seconds > 0)
                .then(|| Duration::from_secs(self.hold_back_seconds)),
            progress: stderr_is_terminal && !self.output.quiet,
            interrupt: crate::export::Interrupt::never(),
        })
    }
}

/// The webhook settings, checked: an http(s) URL, and demo rows only to a local receiver.
pub fn webhook_config(args: &SinkArgs, demo: bool) -> Result<WebhookConfig, Error> {
    let Some(raw) = args
        .webhook_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return Err(Error::config(
            "--sink webhook needs --webhook-url URL (or ANALYTICS_GUARDRAIL_WEBHOOK)",
        ));
    };
    let url = url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            Error::config(format!(
                "--webhook-url `{}` is not an http(s) URL",
                crate::redact::url(raw)
            ))
        })?;
    if demo && !is_loopback(&url) {
        return Err(Error::config(format!(
            "--demo rows may only go to a webhook on this machine (localhost), not {}; \
             unset ANALYTICS_GUARDRAIL_WEBHOOK or point it at a local gateway",
            crate::redact::url(raw)
        )));
    }
    let secret = |value: &Option<String>| {
        value
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| secrecy::SecretString::from(v.to_owned()))
    };
    Ok(WebhookConfig {
        url,
        secret: secret(&args.webhook_secret),
        token: secret(&args.webhook_token),
        timeout: Duration::from_secs(args.webhook_timeout_seconds),
        max_attempts: args.webhook_max_attempts,
        gzip: args.webhook_gzip,
        dead_letter_dir: args.dead_letter_dir.clone(),
        backoff: Backoff::default(),
    })
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
