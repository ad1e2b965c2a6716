//! Command-line flags: every flag, its environment variable and its help text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cursor::Position;
use crate::env_vars as env;
use crate::error::ExportError;
use crate::export::retry::Backoff;
use crate::export::sink::{SinkConfig, WebhookConfig};
use crate::export::source::SourceConfig;
use crate::export::{CursorStoreConfig, ExportConfig};

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
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Source database: postgres://user:pass@host/db (production) or sqlite://path (local work).
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Use the demo database ./guardrail-demo.sqlite, created with a fixed sample when missing.
    /// Takes precedence over --database-url.
    #[arg(long)]
    pub demo: bool,

    /// Export at most N rows in this run (0 = everything pending); a backlog drains over runs.
    #[arg(long, env = env::LIMIT, default_value_t = 0, value_name = "N")]
    pub limit: u64,

    /// Export only this provider's follow-ups. A cursor file is bound to its filter.
    #[arg(long, env = env::PROVIDER_ID, value_name = "ID")]
    pub provider_id: Option<String>,

    /// Start point: a timestamp (rows at or after it) or TIMESTAMP/FOLLOW-UP-ID (rows strictly
    /// after that row). Overrides the stored cursor; the store is updated after the run.
    #[arg(long, env = env::CURSOR, value_name = "TS")]
    pub cursor: Option<String>,

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

    /// Ignore the stored cursor (even a corrupt or mismatched one) and start from the beginning,
    /// or from --cursor when given. The store is overwritten after the run.
    #[arg(long)]
    pub reset_cursor: bool,

    /// Only export rows at least this old, on the database clock, so that transactions still
    /// open when the run starts are not passed over.
    #[arg(long, env = env::SETTLE_SECONDS, default_value_t = 60, value_name = "SECONDS")]
    pub settle_seconds: u64,

    /// Rows per batch: the unit the sink acknowledges and the cursor advances by.
    #[arg(long, env = env::BATCH_SIZE, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl ExportArgs {
    /// Validates the flags into a typed configuration before any work starts.
    pub fn into_config(self, stderr_is_terminal: bool) -> Result<ExportConfig, ExportError> {
        let source = if self.demo {
            SourceConfig::Sqlite(PathBuf::from(crate::demo::DEMO_PATH))
        } else {
            match self.database_url.as_deref().map(str::trim) {
                Some(url) if !url.is_empty() => SourceConfig::from_url(url)?,
                _ => {
                    return Err(ExportError::config(
                        "no database: set DATABASE_URL (or --database-url) to postgres://… or sqlite://…, \
                         or pass --demo to try the bundled sample",
                    ));
                }
            }
        };
        let sink = match self.sink {
            SinkKind::Stdout => SinkConfig::Stdout,
            SinkKind::File => match self.file_path {
                Some(path) => SinkConfig::File(path),
                None => return Err(ExportError::config("--sink file needs --file-path PATH")),
            },
            SinkKind::Webhook => SinkConfig::Webhook(webhook_config(&self)?),
        };
        let cursor_store = match self.cursor_store {
            CursorStoreKind::None => CursorStoreConfig::None,
            CursorStoreKind::File => CursorStoreConfig::File(self.cursor_store_path),
        };
        let start = match self.cursor.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Some(
                Position::parse(text)
                    .map_err(|reason| ExportError::config(format!("--cursor: {reason}")))?,
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
            cursor_store,
            limit: (self.limit > 0).then_some(self.limit),
            provider_id,
            start,
            reset_cursor: self.reset_cursor,
            settle: Duration::from_secs(self.settle_seconds),
            batch_size: self.batch_size,
            progress: stderr_is_terminal && !self.quiet,
        })
    }
}

/// The webhook settings, checked: an http(s) URL, and demo rows only to a local receiver.
fn webhook_config(args: &ExportArgs) -> Result<WebhookConfig, ExportError> {
    let Some(raw) = args
        .webhook_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return Err(ExportError::config(
            "--sink webhook needs --webhook-url URL (or ANALYTICS_GUARDRAIL_WEBHOOK)",
        ));
    };
    let url = url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            ExportError::config(format!(
                "--webhook-url `{}` is not an http(s) URL",
                crate::redact::url(raw)
            ))
        })?;
    if args.demo && !is_loopback(&url) {
        return Err(ExportError::config(format!(
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
