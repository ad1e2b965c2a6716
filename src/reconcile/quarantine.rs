//! `reconcile --repair` on damaged lake entries (objects that do not hold follow-ups as the
//! gateway writes them, links, odd names): each is moved out of the lake, to
//! `guardrail_followups_quarantine/` beside it ([`crate::lake_layout::quarantine_key`]), where
//! neither reconcile nor the warehouse stage reads it — after the days of the rows read from it
//! were delivered again, so a repair stopped at any point loses nothing. Follow-ups deleted
//! from the source are not quarantined: they get tombstones ([`super::repair`]).

use super::lake::{Damaged, LakeReader};
use crate::error::Error;

/// What a quarantine moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quarantine {
    /// `(from, to)`: each moved entry's key before and after, relative to the store's root.
    pub objects: Vec<(String, String)>,
}

impl Quarantine {
    pub fn merge(&mut self, other: Quarantine) {
        self.objects.extend(other.objects);
    }
}

/// Moves every damaged entry of the lake to the quarantine. Their readable rows are then
/// missing from the lake (or were never there), so the repair delivers their days again.
pub async fn damaged(reader: &LakeReader, damaged: &[Damaged]) -> Result<Quarantine, Error> {
    let mut objects = Vec::with_capacity(damaged.len());
    for entry in damaged {
        let to = reader.quarantine_damaged(entry).await?;
        tracing::warn!(
            "moved the damaged lake entry {} ({}) to {to}",
            entry.key,
            entry.reason
        );
        objects.push((entry.key.clone(), to));
    }
    Ok(Quarantine { objects })
}
