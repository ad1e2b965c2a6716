//! `guardrail-followups check`: verifies a configuration without exporting anything, one line
//! per check — ok, or the problem and its fix.

use std::process::ExitCode;

use crate::cli::{CheckArgs, SinkKind};
use crate::cursor::{CursorStore, CursorStoreConfig};
use crate::error::Error;
use crate::export::sink::{WebhookConfig, WebhookSink};
use crate::export::source::{Source, SourceConfig, TABLE};
use crate::fs::{Readers, write_atomically};
use crate::{logging, wire};

/// The outcome of one check.
enum Verdict {
    Ok(String),
    /// Not a problem, but worth knowing, with how to change it.
    Note {
        note: String,
        how: String,
    },
    Problem {
        problem: String,
        fix: String,
    },
}

struct Report {
    problems: usize,
    /// Every line is scrubbed: a server's answer may echo a credential.
    scrubber: crate::redact::Scrubber,
}

impl Report {
    fn line(&mut self, what: &str, verdict: Verdict) {
        let clean = |text: &str| self.scrubber.scrub(text);
        match verdict {
            Verdict::Ok(detail) => println!("ok       {what:<13} {}", clean(&detail)),
            Verdict::Note { note, how } => {
                println!("note     {what:<13} {}", clean(&note));
                println!("         {:<13} {}", "to change", clean(&how));
            }
            Verdict::Problem { problem, fix } => {
                self.problems += 1;
                println!("problem  {what:<13} {}", clean(&problem));
                println!("         {:<13} {}", "fix", clean(&fix));
            }
        }
    }
}

pub fn check(args: CheckArgs) -> ExitCode {
    let scrubber = super::scrubber(
        [&args.source.database_url, &args.sink.webhook_url],
        [
            &args.sink.webhook_secret,
            &args.sink.webhook_token,
            &args.cursor_store.s3.s3_secret_access_key,
        ],
    );
    logging::init(args.output.log_format, true, scrubber.clone());
    let runtime = match super::runtime() {
        Ok(runtime) => runtime,
        Err(error) => return super::fail(&error, &scrubber),
    };
    let mut report = Report {
        problems: 0,
        scrubber: scrubber.clone(),
    };
    runtime.block_on(async {
        check_source(&args, &mut report).await;
        check_cursor_store(&args, &mut report).await;
        check_webhook(&args, &mut report).await;
    });
    if report.problems == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{} problem(s) found", report.problems);
        ExitCode::from(crate::error::exit::RUNTIME)
    }
}

/// How long `check` waits for the database to connect, and for each of its queries.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn check_source(args: &CheckArgs, report: &mut Report) {
    if args.source.demo
        && let Err(e) = super::prepare_demo()
    {
        return report.line("database", problem_with_fix(&e));
    }
    let config = match args.source.config() {
        Ok(mut config) => {
            // `check` answers quickly, whatever the connection string allows a run.
            if let SourceConfig::Postgres(pg) = &mut config {
                pg.connect_cap = Some(CHECK_TIMEOUT);
                pg.read_timeout = pg.read_timeout.min(CHECK_TIMEOUT);
            }
            config
        }
        Err(e) => {
            let fix = "set DATABASE_URL (or --database-url) to the application's PostgreSQL".into();
            return report.line(
                "database",
                Verdict::Problem {
                    problem: e.to_string(),
                    fix,
                },
            );
        }
    };
    let source = match Source::connect(&config).await {
        Ok(source) => source,
        Err(e) => return report.line("database", problem_with_fix(&e)),
    };
    let Source::Postgres(pg) = &source else {
        let verdict = match source.count(&everything()).await {
            Ok(rows) => Verdict::Ok(format!(
                "{}: {TABLE} readable ({rows} rows)",
                source.describe()
            )),
            Err(e) => Verdict::Problem {
                problem: format!("{e:#}"),
                fix: "check the sqlite:// path".into(),
            },
        };
        report.line("database", verdict);
        return report.line("index", Verdict::Ok("not checked for SQLite".into()));
    };
    match pg.probe().await {
        Ok(rows) => report.line(
            "database",
            Verdict::Ok(format!(
                "{}: {TABLE} readable (~{rows} rows)",
                source.describe()
            )),
        ),
        Err(e) => return report.line("database", problem_with_fix(&e.into())),
    }
    let verdict = match pg.created_at_indexes().await {
        Ok(indexes) if indexes.iter().any(|d| d.contains("(created_at, id)")) => {
            Verdict::Ok(format!("{TABLE} (created_at, id) is indexed"))
        }
        Ok(indexes) => Verdict::Problem {
            problem: match indexes.first() {
                Some(_) => {
                    format!("{TABLE} has an index on created_at but not on (created_at, id)")
                }
                None => format!(
                    "{TABLE} has no index on (created_at, id): every run scans and sorts the table"
                ),
            },
            fix: format!(
                "CREATE INDEX CONCURRENTLY provider_guardrail_followup_created_at_id_idx ON {TABLE} (created_at, id);"
            ),
        },
        Err(e) => problem_with_fix(&e.into()),
    };
    report.line("index", verdict);
    let verdict = match pg.sees_all_sessions().await {
        Ok(true) => Verdict::Ok("pg_stat_activity shows every session: runs stop before open transactions".into()),
        Ok(false) => Verdict::Note {
            note: "this role sees only its own sessions in pg_stat_activity: runs cannot stop before other \
                   roles' open transactions (the late-row audit still delivers their rows afterwards)"
                .into(),
            how: "GRANT pg_read_all_stats TO <export role>;".into(),
        },
        Err(e) => problem_with_fix(&e.into()),
    };
    report.line("hold-back", verdict);
}

fn everything() -> crate::export::source::Query {
    crate::export::source::Query::default()
}

async fn check_cursor_store(args: &CheckArgs, report: &mut Report) {
    let config = match args.cursor_store.config() {
        Ok(config) => config,
        Err(e) => {
            let fix = "see `guardrail-followups check --help` for the cursor store flags".into();
            return report.line(
                "cursor store",
                Verdict::Problem {
                    problem: e.to_string(),
                    fix,
                },
            );
        }
    };
    if let CursorStoreConfig::None = config {
        return report.line(
            "cursor store",
            Verdict::Ok("none: every run starts from --cursor or the beginning".into()),
        );
    }
    let mut store = match CursorStore::open(&config).await {
        Ok(store) => store,
        Err(e) => return report.line("cursor store", problem_with_fix(&e)),
    };
    let name = store.describe();
    let loaded = store.load().await;
    let verdict = match loaded {
        Err(e) => problem_with_fix(&e),
        Ok(state) => {
            let provider = args
                .provider_id
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty());
            match state {
                Some(state) if !state.legacy && state.provider_id.as_deref() != provider => Verdict::Problem {
                    problem: format!(
                        "{name} belongs to {}, not {}",
                        crate::error::describe_filter(state.provider_id.as_deref()),
                        crate::error::describe_filter(provider)
                    ),
                    fix: "use a separate cursor per --provider-id, or `guardrail-followups cursor reset`".into(),
                },
                state => match probe_write(&config).await {
                    Ok(()) => Verdict::Ok(format!(
                        "{name}: readable ({}), writable",
                        match state.and_then(|s| s.position) {
                            Some(p) => format!("cursor {}", p.created_at),
                            None => "no cursor yet".into(),
                        }
                    )),
                    Err(e) => Verdict::Problem {
                        problem: format!("{name} is not writable: {e:#}"),
                        fix: "give the export's user write access to it (folder permissions, or s3:PutObject/DeleteObject on the key)".into(),
                    },
                },
            }
        }
    };
    store.close().await;
    report.line("cursor store", verdict);
}

/// Writes and removes a probe beside the cursor, leaving the cursor itself untouched.
async fn probe_write(config: &CursorStoreConfig) -> anyhow::Result<()> {
    match config {
        CursorStoreConfig::None => Ok(()),
        CursorStoreConfig::File(path) => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".check");
            let probe = path.with_file_name(name);
            write_atomically(&probe, b"check\n", Readers::Owner)?;
            std::fs::remove_file(&probe)?;
            Ok(())
        }
        CursorStoreConfig::S3 { uri, options, .. } => {
            use object_store::ObjectStoreExt;
            let store = crate::s3::open_bucket(&uri.bucket, options)?;
            let probe = object_store::path::Path::from(format!("{}.check", uri.key));
            store
                .put(&probe, bytes::Bytes::from_static(b"check\n").into())
                .await?;
            store.delete(&probe).await?;
            Ok(())
        }
    }
}

async fn check_webhook(args: &CheckArgs, report: &mut Report) {
    let wanted = args.sink.sink == SinkKind::Webhook || args.sink.webhook_url.is_some();
    if !wanted {
        return report.line(
            "webhook",
            Verdict::Ok("not used (--sink is not webhook)".into()),
        );
    }
    let config = match crate::cli::webhook_config(&args.sink, false) {
        Ok(config) => config,
        Err(e) => {
            let fix = "set --webhook-url / ANALYTICS_GUARDRAIL_WEBHOOK to the gateway's http(s)://…/v1/followups".into();
            return report.line(
                "webhook",
                Verdict::Problem {
                    problem: e.to_string(),
                    fix,
                },
            );
        }
    };
    report.line("webhook", probe_webhook(&config).await);
}

/// POSTs an empty, signed batch: the gateway answers 422 (empty) once it has accepted the
/// credentials, 401 when it has not. Any answer proves the endpoint reachable.
async fn probe_webhook(config: &WebhookConfig) -> Verdict {
    let url = crate::redact::url(config.url.as_str());
    // The sink's own request — headers, signature, token — with a body that is never gzipped.
    let sink = match WebhookSink::new(WebhookConfig {
        gzip: false,
        ..config.clone()
    }) {
        Ok(sink) => sink,
        Err(e) => {
            return Verdict::Problem {
                problem: e.to_string(),
                fix: "report this as a bug".into(),
            };
        }
    };
    let body = bytes::Bytes::from_static(br#"{"followUps":[]}"#);
    match sink.post(&wire::idempotency_key(b""), body).await {
        Ok(response) if matches!(response.status().as_u16(), 401 | 403) => Verdict::Problem {
            problem: format!("{url} refused the credentials ({})", response.status()),
            fix: "give the exporter the gateway's secret or token (--webhook-secret / --webhook-token)".into(),
        },
        Ok(response) => Verdict::Ok(format!("{url} reachable (answered {} to an empty batch)", response.status())),
        Err(e) => Verdict::Problem {
            problem: format!("{url} is unreachable: {}", crate::redact::error_chain(&e.without_url())),
            fix: "start the gateway, or correct --webhook-url / ANALYTICS_GUARDRAIL_WEBHOOK".into(),
        },
    }
}

/// Splits "problem. Fix: fix" messages; other errors get a generic fix.
fn problem_with_fix(error: &Error) -> Verdict {
    let text = match error {
        Error::Runtime { source } => format!("{source:#}"),
        other => other.to_string(),
    };
    match text.split_once(". Fix: ") {
        Some((problem, fix)) => Verdict::Problem {
            problem: problem.into(),
            fix: fix.into(),
        },
        None => {
            let fix = match error {
                Error::Locked { .. } => {
                    "an export is running right now; check again when it has finished"
                }
                Error::CorruptCursor { .. } | Error::CursorMismatch { .. } => {
                    "inspect it, then `guardrail-followups cursor reset` or `cursor set TS`"
                }
                _ => "see the problem above",
            };
            Verdict::Problem {
                problem: text,
                fix: fix.into(),
            }
        }
    }
}
