//! What a run leaves after its cursor: how many rows, the oldest, and those held back on
//! purpose (the settle window, an open transaction), for the summary line, the status and the
//! metrics. Each source counts it in one query ([`super::Source::backlog`]).

use crate::time::Timestamp;

/// What is left after a position: every row after it, whatever the settle window and open
/// transactions say (what `cursor show` counts), and those of them a run may not take yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub pending: u64,
    /// `created_at` of the oldest pending row.
    pub oldest: Option<Timestamp>,
    /// The pending rows a run may not take yet; `None` when there are none.
    pub held_back: Option<HeldBack>,
}

/// Rows after the cursor that a run leaves for later, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldBack {
    pub rows: u64,
    pub reason: HoldReason,
    /// Rows created at or after this instant wait.
    pub since: Timestamp,
}

/// Why rows are held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// They are younger than `--settle-seconds`: a transaction may still commit rows before them.
    SettleWindow,
    /// A transaction open since [`HeldBack::since`] (the server process `pid`) may still
    /// commit rows created before them.
    OpenTransaction { pid: i32 },
}

impl HoldReason {
    /// The status JSON's `heldBack.reason`.
    pub fn kind(self) -> crate::status::HeldBackReason {
        match self {
            HoldReason::SettleWindow => crate::status::HeldBackReason::SettleWindow,
            HoldReason::OpenTransaction { .. } => crate::status::HeldBackReason::OpenTransaction,
        }
    }
}

impl std::fmt::Display for HeldBack {
    /// `50 rows held back by a transaction open since … (pid 4242)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows = if self.rows == 1 { "row" } else { "rows" };
        match self.reason {
            HoldReason::SettleWindow => write!(
                f,
                "{} {rows} held back by the settle window (created since {})",
                self.rows, self.since
            ),
            HoldReason::OpenTransaction { pid } => write!(
                f,
                "{} {rows} held back by a transaction open since {} (pid {pid})",
                self.rows, self.since
            ),
        }
    }
}

impl HeldBack {
    /// The hold of rows after `settled` (the settle window's bound) and, when a transaction is
    /// open, at or after its start: the earlier bound is the one that holds them.
    pub fn of(rows: u64, settled: Timestamp, open: Option<(Timestamp, i32)>) -> Option<HeldBack> {
        if rows == 0 {
            return None;
        }
        Some(match open {
            Some((since, pid)) if since <= settled => HeldBack {
                rows,
                reason: HoldReason::OpenTransaction { pid },
                since,
            },
            _ => HeldBack {
                rows,
                reason: HoldReason::SettleWindow,
                since: settled,
            },
        })
    }
}
