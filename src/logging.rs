//! Logging to stderr, as text or JSON lines, every line through the scrubber.

use std::fmt;
use std::io::{IsTerminal, Write as _};
use std::sync::Arc;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::redact::Scrubber;

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-01-22T04:00:00Z INFO message key=value`, for people.
    Text,
    /// One JSON object per line, for Datadog, filebeat, Loki…
    Json,
}

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
