//! `guardrail-followups cursor show|set|reset|unlock`: inspect or move the cursor, saying what
//! changed, or remove a lease left by a run that is gone.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{CursorArgs, CursorCommand};
use crate::cursor::fingerprint::bucket_start;
use crate::cursor::{CursorState, Position};
use crate::error::{Error, describe_filter};
use crate::export::source::Query;
use crate::logging;
use crate::store::{self, CursorStore, CursorStoreConfig};
use crate::time::Timestamp;

pub fn cursor(command: CursorCommand) -> ExitCode {
    let args = match &command {
        CursorCommand::Show { args, .. }
        | CursorCommand::Reset(args)
        | CursorCommand::Set { args, .. }
        | CursorCommand::Unlock { args, .. } => args,
    };
    let scrubber = crate::redact::Scrubber::of(args);
    logging::init(args.output.log_format, args.output.quiet, scrubber.clone());
    let result = super::runtime().and_then(|runtime| {
        runtime.block_on(async {
            match &command {
                CursorCommand::Show { raw: true, args } => show_raw(args).await,
                CursorCommand::Show { raw: false, args } => show(args).await,
                CursorCommand::Set { position, args } => {
                    let position =
                        Position::parse(position).map_err(|e| Error::config(e.to_string()))?;
                    replace(args, Some(position)).await
                }
                CursorCommand::Reset(args) => replace(args, None).await,
                CursorCommand::Unlock { force, args } => {
                    let done = store_config(args)?.unlock(*force).await?;
                    println!("{done}");
                    Ok(())
                }
            }
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => super::fail(&error, &scrubber),
    }
}

fn store_config(args: &CursorArgs) -> Result<CursorStoreConfig, Error> {
    let location = args.cursor_store.config()?;
    if !location.keeps_state() {
        return Err(Error::config(
            "no cursor store: pass --cursor-store file (with --cursor-store-path) or --cursor-store s3 (with --cursor-store-uri)",
        ));
    }
    Ok(location)
}

fn describe(position: Option<Position>) -> String {
    match position {
        Some(Position {
            created_at,
            id: Some(id),
        }) => format!("rows after {created_at}/{id}"),
        Some(Position {
            created_at,
            id: None,
        }) => format!("rows at or after {created_at}"),
        None => "every row, from the beginning of the table".into(),
    }
}

/// Prints the stored bytes as they are (a usable cursor file), or nothing when none is stored.
async fn show_raw(args: &CursorArgs) -> Result<(), Error> {
    use std::io::Write as _;
    let config = store_config(args)?;
    if let Some(bytes) = config.read().await? {
        // Only a cursor that parses is worth keeping as a copy.
        crate::cursor::parse(&bytes).map_err(|reason| Error::CorruptCursor {
            path: config.describe(),
            reason,
        })?;
        std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| anyhow::anyhow!("writing the cursor to stdout: {e}"))?;
    }
    Ok(())
}

/// Prints the stored cursor, then how far behind the table it is when a database is given.
async fn show(args: &CursorArgs) -> Result<(), Error> {
    let config = store_config(args)?;
    let Some((state, raw)) = store::peek(&*config).await? else {
        println!("no cursor stored yet: the next export starts from the beginning of the table");
        return Ok(());
    };
    // The stored fields as they are, but the audit's buckets only summarised.
    match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(serde_json::Value::Object(mut fields)) => {
            fields.remove("audit");
            println!("{}", serde_json::to_string_pretty(&fields).unwrap_or(raw));
        }
        _ => println!("{raw}"),
    }
    println!("next export: {}", describe(state.position));
    println!(
        "bound to: {}",
        describe_filter(state.provider_id.as_deref())
    );
    match &state.audit {
        Some(audit) => {
            let rows: u64 = audit.buckets.values().map(|f| f.count).sum();
            let micros = i64::try_from(audit.bucket_seconds.max(1) * 1_000_000).unwrap_or(i64::MAX);
            let span = match (audit.buckets.keys().next(), audit.buckets.keys().last()) {
                (Some(first), Some(last)) => format!(
                    ", from {} to {}",
                    bucket_start(*first, micros),
                    bucket_start(*last + 1, micros)
                ),
                _ => String::new(),
            };
            let since = match audit.since {
                Some(since) => format!("; rows up to {} predate the audit", since.created_at),
                None => String::new(),
            };
            println!(
                "late-row audit: {rows} delivered rows fingerprinted in {} buckets of {}s{span}{since}",
                audit.buckets.len(),
                audit.bucket_seconds
            );
        }
        None => println!("late-row audit: no fingerprints yet (the next export starts them)"),
    }
    if let Some(position) = state.position {
        let age = Timestamp::now()
            .micros()
            .saturating_sub(position.created_at.micros())
            / 1_000_000;
        println!(
            "cursor age: {}",
            human_duration(Duration::from_secs(u64::try_from(age).unwrap_or(0)))
        );
    }
    if args.source.demo {
        super::prepare_demo()?;
    }
    let Ok(source_config) = args.source.config() else {
        println!("rows behind: unknown (give --database-url or DATABASE_URL to count them)");
        return Ok(());
    };
    let source = source_config.connect().await?;
    let query = Query {
        after: state.position,
        provider_id: state.provider_id.clone(),
        ..Query::default()
    };
    let behind = source.count(&query).await?;
    println!("rows behind: {behind} in {}", source.describe());
    Ok(())
}

/// Moves the cursor to `position` (`None`: the beginning), under the store's lock.
async fn replace(args: &CursorArgs, position: Option<Position>) -> Result<(), Error> {
    let config = store_config(args)?;
    store::with_lock(&*config, async |store| {
        replace_locked(args, store, position).await
    })
    .await
}

async fn replace_locked(
    args: &CursorArgs,
    store: &mut dyn CursorStore,
    position: Option<Position>,
) -> Result<(), Error> {
    let requested = args
        .provider_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    // A corrupt cursor can be replaced: that is what this command is for.
    let stored = match store.load().await {
        Ok(stored) => stored,
        Err(Error::CorruptCursor { reason, .. }) => {
            tracing::warn!("replacing an unreadable cursor ({reason})");
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(stored) = &stored
        && !stored.legacy
        && requested.is_some()
        && stored.provider_id != requested
    {
        return Err(Error::CursorMismatch {
            path: store.describe(),
            stored: describe_filter(stored.provider_id.as_deref()),
            requested: describe_filter(requested.as_deref()),
        });
    }
    let before = stored.as_ref().and_then(|s| s.position);
    let state = CursorState {
        position,
        provider_id: requested.or_else(|| stored.as_ref().and_then(|s| s.provider_id.clone())),
        total_rows: stored.as_ref().map_or(0, |s| s.total_rows),
        legacy: false,
        // Moving the cursor starts the audit afresh from the new position.
        audit: None,
    };
    store.save(&state, 0).await?;
    println!("cursor {} changed; the next export reads", store.describe());
    println!("  before: {}", describe(before));
    println!("  now:    {}", describe(position));
    Ok(())
}

fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {}s", seconds / 60, seconds % 60),
        3600..86400 => format!("{}h {}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d {}h", seconds / 86400, seconds % 86400 / 3600),
    }
}
