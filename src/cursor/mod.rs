//! The cursor: how far the feed has been delivered (a position and, for the late-row audit,
//! fingerprints of what was delivered recently), and its file format with the legacy formats of
//! the old script. Pure values: the stores that keep a cursor between runs build on these.

pub mod fingerprint;
mod format;

use uuid::Uuid;

use crate::time::{Timestamp, TimestampError};
pub use fingerprint::{AuditConfig, AuditState, Fingerprint};
pub use format::{CursorFileError, parse, render};

/// Why a text is not a [`Position`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    #[error("`{0}` after the `/` is not a follow-up id (a uuid)")]
    NotAnId(String),
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
}

/// The position after which the next run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub created_at: Timestamp,
    /// The id of the last row delivered. `None` for a timestamp alone (a legacy cursor or
    /// `--cursor TS`): it cannot tell which rows at that instant were delivered, so the next run
    /// starts *at* the timestamp and rows of that instant are sent again (the warehouse MERGE
    /// absorbs them). With an id the next run starts strictly after `(created_at, id)`.
    pub id: Option<Uuid>,
}

/// `TS/UUID`, or `TS` alone: the form `--cursor` and `cursor set` take.
impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id {
            Some(id) => write!(f, "{}/{id}", self.created_at),
            None => write!(f, "{}", self.created_at),
        }
    }
}

impl Position {
    /// Parses `TS` or `TS/UUID` (the form `cursor show` prints).
    pub fn parse(text: &str) -> Result<Position, PositionError> {
        let (ts, id) = match text.trim().split_once('/') {
            Some((ts, id)) => {
                let id = Uuid::parse_str(id.trim())
                    .map_err(|_| PositionError::NotAnId(id.to_owned()))?;
                (ts, Some(id))
            }
            None => (text, None),
        };
        Ok(Position {
            created_at: Timestamp::parse(ts)?,
            id,
        })
    }
}

/// What a cursor store holds between runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CursorState {
    /// `None` until the first row is delivered: the next run starts from the beginning.
    pub position: Option<Position>,
    /// The `--provider-id` this cursor belongs to (`None`: all providers). `None` also for
    /// legacy files, which carry no binding.
    pub provider_id: Option<String>,
    /// Rows delivered by all runs recorded in this cursor.
    pub total_rows: u64,
    /// Whether the state came from a legacy file without a provider binding.
    pub legacy: bool,
    /// Fingerprints of what was delivered over the audit window (`None`: no audit yet, as in
    /// legacy files and files of runs without the audit).
    pub audit: Option<AuditState>,
}
