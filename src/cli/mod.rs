//! Command-line flags: every flag, its environment variable and its help text.

mod export;
mod validate;

use clap::{Args, Parser, Subcommand};

use crate::env_vars as env;
use crate::redact::{Scrubber, Secrets};
pub use export::{
    ArchiveArgs, CursorStoreArgs, CursorStoreKind, ExportArgs, OutputArgs, ReportArgs, S3Args,
    SinkArgs, SinkKind, SourceArgs,
};
pub use validate::webhook_config;

mod admin;
mod gateway;
mod limits;
mod reconcile;

pub use admin::AdminArgs;
pub use gateway::GatewayArgs;
pub use reconcile::ReconcileArgs;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (including \"nothing new to export\")
  1  runtime failure (database, sink, disk); the cursor covers only what was delivered
  2  usage or configuration error (bad flag, no database, unusable cursor file); nothing was done
  3  another run holds the cursor's lock; nothing was done";

const RECONCILE_EXIT_CODES: &str = "\
Exit codes:
  0  every compared day matches, by content
  1  runtime failure (database, lake, sink): nothing was compared or repaired past it
  2  usage or configuration error (bad flag, bad --lake, no database); nothing was done
  4  differences found: follow-ups missing, foreign or stale, or damaged lake entries
     (after --repair: what the repair left)";

/// `--version`: the version and the commit it was built from (`build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GUARDRAIL_COMMIT"),
    ")"
);

/// Keeps the guardrail follow-ups feed synchronized with analytics.
#[derive(Debug, Parser)]
#[command(name = "guardrail-followups", version = VERSION, after_help = EXIT_CODES)]
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
    /// index exists, that the cursor store can be read and written, that the webhook answers,
    /// and that the archive (--archive-uri) takes files.
    /// Prints one line per check (ok / note / problem, with the fix) and exits 1 if any check
    /// failed. A note (a missing index, a role that cannot see other sessions) is not a failure
    /// unless --strict.
    Check(CheckArgs),
    /// Inspect or move the cursor: `show`, `set TS` (backfills), `reset`.
    #[command(subcommand)]
    Cursor(CursorCommand),
    /// Prove that the lake holds the source: compare them day by day.
    ///
    /// Per UTC day of created_at, the source's row count and id hash (one aggregate query) are
    /// compared with those of the distinct follow-ups in the lake (one streaming pass over its
    /// objects). Prints the days that differ with the counts on each side and a total line;
    /// exits 1 when any day differs, 0 when none does. --repair moves the objects holding
    /// foreign rows (ids the source lacks) out of the lake, delivers the differing days again
    /// through the sink without moving the export's cursor, and compares again.
    #[command(after_help = RECONCILE_EXIT_CODES)]
    Reconcile(ReconcileArgs),
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
pub struct CheckArgs {
    /// Count notes as problems: exit 1 on a missing (created_at, id) index too.
    #[arg(long)]
    pub strict: bool,

    /// Every flag of `export`: `check` checks what that run would read and write.
    #[command(flatten)]
    pub run: ExportArgs,
}

impl Secrets for CheckArgs {
    fn hide(&self, scrubber: &mut Scrubber) {
        self.run.hide(scrubber);
    }
}

#[derive(Debug, Subcommand)]
pub enum CursorCommand {
    /// Print the stored cursor and, with a database, how far behind the table it is.
    Show {
        /// Print the stored cursor file exactly as stored, and nothing else (nothing when none
        /// is stored): a copy another store can use, such as a recovery artifact.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        args: CursorArgs,
    },
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

impl Secrets for CursorArgs {
    fn hide(&self, scrubber: &mut Scrubber) {
        self.source.hide(scrubber);
        self.cursor_store.s3.hide(scrubber);
    }
}

/// The fewest characters a shared secret or bearer token between the exporter and the gateway
/// may have.
pub const MIN_SECRET_CHARS: usize = 12;

/// A configured secret, trimmed (an env file's trailing newline or space is not part of it).
/// Unset stays `None`; a blank or too short value is a configuration error that names the
/// flag, its variable and the fix (`otherwise` says what leaving it unset does).
pub fn secret(
    value: Option<secrecy::SecretString>,
    flag: &str,
    variable: &str,
    min: usize,
    otherwise: &str,
) -> Result<Option<secrecy::SecretString>, crate::error::Error> {
    let Some(value) = value else {
        return Ok(None);
    };
    let trimmed = secrecy::ExposeSecret::expose_secret(&value).trim();
    if trimmed.is_empty() {
        return Err(crate::error::Error::config_fix(
            format!("{flag} ({variable}) is blank"),
            format!("set it to a value of at least {min} characters, {otherwise}"),
        ));
    }
    if trimmed.chars().count() < min {
        return Err(crate::error::Error::config_fix(
            format!("{flag} ({variable}) must be at least {min} characters long"),
            format!("set a longer value (a random one: openssl rand -hex 24), {otherwise}"),
        ));
    }
    Ok(Some(secrecy::SecretString::from(trimmed.to_owned())))
}

/// `--trusted-proxy` values (from `variable`) as networks, or a configuration error naming the
/// bad one.
fn trusted_proxies(
    values: &[String],
    variable: &str,
) -> Result<crate::server::proxy::TrustedProxies, crate::error::Error> {
    values
        .iter()
        .map(|text| text.parse::<crate::server::proxy::Network>())
        .collect::<Result<Vec<_>, _>>()
        .map(crate::server::proxy::TrustedProxies::from_networks)
        .map_err(|reason| {
            crate::error::Error::config_fix(
                format!("--trusted-proxy ({variable}) {reason}"),
                "list the reverse proxies' IP addresses or networks, comma-separated, \
                 e.g. 127.0.0.1,10.0.0.0/8",
            )
        })
}
