//! The one error type every command and server ends with, the fix it suggests, and the exit code
//! it maps to — in one place.

use std::process::ExitCode;

/// Exit codes, as documented in `--help` and the README.
pub mod exit {
    /// The run finished (possibly with nothing to export).
    pub const SUCCESS: u8 = 0;
    /// The run failed at runtime (database, sink, disk): nothing past what was delivered moved.
    pub const RUNTIME: u8 = 1;
    /// Bad flags or configuration, or a cursor that cannot be used: fix it and rerun.
    pub const CONFIG: u8 = 2;
    /// Another run holds the cursor's lock: nothing was done.
    pub const LOCKED: u8 = 3;
    /// `reconcile` ran and found differences between the source and the lake (after
    /// `--repair`: differences it left).
    pub const DIFFERENCES: u8 = 4;
    /// Stopped by SIGINT (Ctrl-C) or SIGTERM: what was acknowledged is in the cursor.
    pub const SIGINT: u8 = 130;
    pub const SIGTERM: u8 = 143;
}

/// The signal that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
        }
    }

    /// The shell's convention, 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Term => exit::SIGTERM,
            Signal::Int => exit::SIGINT,
        }
    }
}

/// A problem and what to do about it. Shown as `<problem>. Fix: <fix>`; `check` prints the two
/// on their own lines. Runtime errors carry one as the root of their chain
/// (`anyhow::Error::new(Hint::new(…))`), so the fix survives the context added above it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}. Fix: {fix}")]
pub struct Hint {
    pub problem: String,
    pub fix: String,
}

impl Hint {
    pub fn new(problem: impl Into<String>, fix: impl Into<String>) -> Hint {
        Hint {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Why a command or a server stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration the user must change before any work can start (exit 2).
    #[error("{}", with_fix(problem, fix.as_deref()))]
    Config {
        problem: String,
        fix: Option<String>,
    },
    /// The cursor file cannot be read as a cursor. It is left untouched.
    #[error(
        "the cursor file {path} cannot be read: {reason}. It was left unchanged. \
         Inspect or move it, then rerun with --reset-cursor to start from the beginning \
         (or --reset-cursor --cursor TS to start from a timestamp)"
    )]
    CorruptCursor {
        path: String,
        reason: crate::cursor::CursorFileError,
    },
    /// The cursor belongs to another provider filter. It is left untouched.
    #[error(
        "the cursor file {path} belongs to {stored}, but this run exports {requested}. \
         Give each --provider-id its own --cursor-store-path, or rerun with --reset-cursor \
         to rebind this file (the next run then starts from the beginning or --cursor)"
    )]
    CursorMismatch {
        path: String,
        stored: String,
        requested: String,
    },
    /// Another run holds the lock.
    #[error("{message}")]
    Locked { message: String },
    /// SIGTERM or SIGINT stopped the run; what was acknowledged is in the cursor.
    #[error("stopped by {}: {delivered}; the next run resumes after them", signal.name())]
    Interrupted {
        signal: Signal,
        /// What this run delivered, for the message.
        delivered: String,
    },
    /// Anything that went wrong while working (database, sink, disk, network).
    #[error(transparent)]
    Runtime {
        #[from]
        source: anyhow::Error,
    },
}

fn with_fix(problem: &str, fix: Option<&str>) -> String {
    match fix {
        Some(fix) => format!("{problem}. Fix: {fix}"),
        None => problem.to_owned(),
    }
}

impl Error {
    /// A configuration problem whose fix is in its own words.
    pub fn config(problem: impl Into<String>) -> Error {
        Error::Config {
            problem: problem.into(),
            fix: None,
        }
    }

    /// A configuration problem and its fix.
    pub fn config_fix(problem: impl Into<String>, fix: impl Into<String>) -> Error {
        Error::Config {
            problem: problem.into(),
            fix: Some(fix.into()),
        }
    }

    /// A runtime failure with its fix.
    pub fn runtime(hint: Hint) -> Error {
        Error::Runtime {
            source: anyhow::Error::new(hint),
        }
    }

    /// The exit code this error ends the process with: the one mapping of errors to codes.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config { .. } | Error::CorruptCursor { .. } | Error::CursorMismatch { .. } => {
                exit::CONFIG
            }
            Error::Locked { .. } => exit::LOCKED,
            Error::Interrupted { signal, .. } => signal.exit_code(),
            Error::Runtime { .. } => exit::RUNTIME,
        }
    }

    /// The whole message on one line: the error chain, outermost first.
    pub fn message(&self) -> String {
        match self {
            Error::Runtime { source } => format!("{source:#}"),
            other => other.to_string(),
        }
    }

    /// The problem and the fix apart, for `check`'s two lines: the typed fix when there is
    /// one (a configuration fix, a [`Hint`] at the root of a runtime chain, what to do about a
    /// lock or an unusable cursor), else `None`.
    pub fn problem_and_fix(&self) -> (String, Option<String>) {
        match self {
            Error::Config {
                problem,
                fix: Some(fix),
            } => (problem.clone(), Some(fix.clone())),
            Error::Runtime { source } => {
                let message = format!("{source:#}");
                match source.chain().find_map(|e| e.downcast_ref::<Hint>()) {
                    Some(hint) => {
                        let suffix = format!(". Fix: {}", hint.fix);
                        let problem = message.strip_suffix(&suffix).unwrap_or(&message);
                        (problem.to_owned(), Some(hint.fix.clone()))
                    }
                    None => (message, None),
                }
            }
            Error::Locked { message } => (
                message.clone(),
                Some("an export is running right now; check again when it has finished".into()),
            ),
            Error::CorruptCursor { .. } | Error::CursorMismatch { .. } => (
                self.message(),
                Some(
                    "inspect it, then `guardrail-followups cursor reset` or `cursor set TS`".into(),
                ),
            ),
            other => (other.message(), None),
        }
    }
}

/// Logs the error chain once (through the scrubbing log writer) and turns the outcome into the
/// process exit code.
pub fn exit_code<T>(result: Result<T, Error>) -> ExitCode {
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{}", error.message());
            ExitCode::from(error.exit_code())
        }
    }
}

/// Describes a provider filter for messages.
pub fn describe_filter(provider_id: Option<&str>) -> String {
    match provider_id {
        Some(id) => format!("--provider-id {id}"),
        None => "all providers".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_hint_at_the_root_of_a_chain_keeps_its_fix_apart() {
        let failed: anyhow::Result<()> = Err(anyhow::Error::new(Hint::new(
            "table t does not exist",
            "create it",
        )));
        let error = Error::from(failed.context("reading t").unwrap_err());
        assert_eq!(
            error.message(),
            "reading t: table t does not exist. Fix: create it"
        );
        assert_eq!(
            error.problem_and_fix(),
            (
                "reading t: table t does not exist".into(),
                Some("create it".into())
            )
        );
        assert_eq!(error.exit_code(), exit::RUNTIME);
    }

    #[test]
    fn configuration_errors_exit_2_with_or_without_a_fix() {
        let plain = Error::config("bad --limit");
        assert_eq!(
            (plain.exit_code(), plain.message()),
            (2, "bad --limit".into())
        );
        let fixed = Error::config_fix("no folder", "create it");
        assert_eq!(fixed.message(), "no folder. Fix: create it");
        assert_eq!(fixed.problem_and_fix().1.as_deref(), Some("create it"));
    }
}
