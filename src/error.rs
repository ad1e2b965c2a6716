//! The errors a run can end with, and the exit code each maps to.

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
    /// Stopped by SIGINT (Ctrl-C) or SIGTERM: what was acknowledged is in the cursor.
    pub const SIGINT: u8 = 130;
    pub const SIGTERM: u8 = 143;
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Configuration the user must change before any work can start.
    #[error("{message}")]
    Config { message: String },
    /// The cursor file cannot be read as a cursor. It is left untouched.
    #[error(
        "the cursor file {path} cannot be read: {reason}. It was left unchanged. \
         Inspect or move it, then rerun with --reset-cursor to start from the beginning \
         (or --reset-cursor --cursor TS to start from a timestamp)"
    )]
    CorruptCursor { path: String, reason: String },
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
        signal: crate::export::Signal,
        /// What this run delivered, for the message.
        delivered: String,
    },
    /// Anything that went wrong while exporting.
    #[error(transparent)]
    Runtime {
        #[from]
        source: anyhow::Error,
    },
}

impl ExportError {
    pub fn config(message: impl Into<String>) -> ExportError {
        ExportError::Config {
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            ExportError::Config { .. }
            | ExportError::CorruptCursor { .. }
            | ExportError::CursorMismatch { .. } => exit::CONFIG,
            ExportError::Locked { .. } => exit::LOCKED,
            ExportError::Interrupted { signal, .. } => signal.exit_code(),
            ExportError::Runtime { .. } => exit::RUNTIME,
        })
    }
}

/// Describes a provider filter for messages.
pub fn describe_filter(provider_id: Option<&str>) -> String {
    match provider_id {
        Some(id) => format!("--provider-id {id}"),
        None => "all providers".into(),
    }
}
