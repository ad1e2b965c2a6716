//! Logging to stderr, as text or JSON lines, and the run's summary line.

use std::fmt;
use std::io::{IsTerminal, Write as _};
use std::sync::Arc;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::LogFormat;
use crate::export::Summary;
use crate::redact::Scrubber;

/// Sets up the global subscriber. `RUST_LOG` refines the level (default `info`, or `warn`
/// with `--quiet`). Every line goes through `scrubber` on its way to stderr, so no configured
/// secret (and no `Bearer` token a server echoes) reaches a log, whatever logged it.
pub fn init(format: LogFormat, quiet: bool, scrubber: Scrubber) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ScrubbedStderr(Arc::new(scrubber)));
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .event_format(PlainText)
            .fmt_fields(tracing_subscriber::fmt::format::debug_fn(
                |writer, field, value| {
                    // Text lines carry the message only; the structured fields are for JSON logs.
                    if field.name() == "message" {
                        write!(writer, "{value:?}")
                    } else {
                        Ok(())
                    }
                },
            ))
            .init(),
    }
}

/// Makes one buffer per log line; the line is scrubbed and written when the buffer is dropped.
struct ScrubbedStderr(Arc<Scrubber>);

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedLine;

    fn make_writer(&'a self) -> ScrubbedLine {
        ScrubbedLine {
            line: Vec::new(),
            scrubber: self.0.clone(),
        }
    }
}

struct ScrubbedLine {
    line: Vec<u8>,
    scrubber: Arc<Scrubber>,
}

impl std::io::Write for ScrubbedLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let _ = std::io::stderr().write_all(self.scrubber.scrub(&text).as_bytes());
    }
}

/// Text lines for people: `message`, `warning: message`, `error: message`.
struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let prefix = match *event.metadata().level() {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            Level::INFO => "",
            Level::DEBUG => "debug: ",
            Level::TRACE => "trace: ",
        };
        write!(writer, "{prefix}")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The one-line summary at the end of a run, with warnings for what normalisation repaired.
pub fn summary(summary: &Summary) {
    let cursor = summary
        .cursor
        .map_or_else(|| "none".into(), |position| position.to_string());
    let repairs = summary.repairs;
    if repairs.contexts_repaired + repairs.contexts_nulled > 0 {
        tracing::warn!(
            repaired = repairs.contexts_repaired,
            nulled = repairs.contexts_nulled,
            "platformContext normalised: {} repaired, {} exported as null",
            repairs.contexts_repaired,
            repairs.contexts_nulled
        );
    }
    if repairs.unknown_actions > 0 {
        tracing::warn!(
            rows = repairs.unknown_actions,
            "{} rows have an action other than pause/resume/escalate (exported as they are)",
            repairs.unknown_actions
        );
    }
    let late = summary.late;
    if late.missing > 0 {
        tracing::warn!(
            missing = late.missing,
            "{} delivered follow-ups are no longer in the source",
            late.missing
        );
    }
    let late_text = if late.found > 0 || late.delivered > 0 {
        format!(
            "; late rows: {} found, {} re-sent",
            late.found, late.delivered
        )
    } else {
        String::new()
    };
    let closed = if summary.output_closed {
        " (output closed by its reader)"
    } else {
        ""
    };
    tracing::info!(
        rows = summary.rows,
        cursor = %cursor,
        seconds = summary.elapsed.as_secs_f64(),
        rows_per_second = summary.rows_per_second().round(),
        source = %summary.source,
        late_found = late.found,
        late_delivered = late.delivered,
        audit_buckets = late.buckets_checked,
        "exported {} rows{closed}; cursor {cursor}; {:.2}s; {:.0} rows/s{late_text}",
        summary.rows,
        summary.elapsed.as_secs_f64(),
        summary.rows_per_second(),
    );
}
