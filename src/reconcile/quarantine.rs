//! `reconcile --repair` on days whose lake side holds foreign rows (follow-ups the source does
//! not have): the objects holding them are found ([`find`]), every day of their rows is
//! delivered again, and only then are they moved out of the lake ([`move_found`]), to
//! `guardrail_followups_quarantine/` beside it ([`super::lake::quarantine_key`]), where neither
//! reconcile nor the warehouse stage reads them. A repair stopped at any point loses nothing:
//! an object still in the lake is found again by the next run, and one already moved had its
//! rows delivered first.
//!
//! Memory: the ids of each foreign day in the source (16 bytes each, plus the set's overhead),
//! and the distinct foreign ids found; bounded by the rows of those days, not by the lake.
//! One pass reads the objects dated up to the last foreign day (an object holds no row of a day
//! before its `dt=`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use object_store::path::Path as ObjectPath;
use serde::Deserialize;
use uuid::Uuid;

use super::lake::{Damaged, LakeReader};
use super::{Range, day_of};
use crate::error::Error;
use crate::export::batch::Batching;
use crate::export::source::{DAY_SECONDS, Source};

/// Foreign ids kept for the report (the count covers all of them).
pub const FOREIGN_IDS_KEPT: usize = 1000;

/// Rows per batch while reading a day's source ids.
const ID_BATCH: u64 = 10_000;

/// What a quarantine moved and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quarantine {
    /// `(from, to)`: each moved object's key before and after, relative to the store's root.
    pub objects: Vec<(String, String)>,
    /// The distinct foreign ids, sorted, at most [`FOREIGN_IDS_KEPT`].
    pub foreign_ids: Vec<Uuid>,
    /// How many distinct foreign ids there are.
    pub foreign_count: u64,
}

/// The objects holding foreign rows, found and not moved yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub objects: Vec<ObjectPath>,
    /// Every day of their rows, in the range or not: delivered again before they move.
    pub days: BTreeSet<i64>,
    pub foreign_ids: Vec<Uuid>,
    pub foreign_count: u64,
}

impl Quarantine {
    /// Adds a later round's findings: its objects were still in the lake, so its foreign rows
    /// are others (the count is their sum).
    pub fn merge(&mut self, other: Quarantine) {
        self.objects.extend(other.objects);
        let mut ids: BTreeSet<Uuid> = self.foreign_ids.drain(..).collect();
        ids.extend(other.foreign_ids);
        self.foreign_ids = ids.into_iter().take(FOREIGN_IDS_KEPT).collect();
        self.foreign_count += other.foreign_count;
    }
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(rename = "followUpId")]
    id: Uuid,
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
    Ok(Quarantine {
        objects,
        ..Quarantine::default()
    })
}

/// Finds every object holding a row of `days` (within `range`) that the source lacks.
pub async fn find(
    source: &dyn Source,
    reader: &LakeReader,
    range: &Range,
    days: &[i64],
) -> Result<Found, Error> {
    let Some(&last_day) = days.iter().max() else {
        return Ok(Found::default());
    };
    let mut source_ids: BTreeMap<i64, HashSet<Uuid>> = BTreeMap::new();
    for &day in days {
        source_ids.insert(day, ids_of_day(source, range, day).await?);
    }
    let mut foreign: HashSet<Uuid> = HashSet::new();
    let mut flagged: Vec<ObjectPath> = Vec::new();
    // Per object, over its parts: whether it holds a foreign row, and the days of its rows.
    let mut found = false;
    let mut days_of_object = BTreeSet::new();
    let mut found_days = BTreeSet::new();
    reader
        .each_object(Some(last_day), |object| {
            let Some(location) = &object.location else {
                return Ok(());
            };
            for (id, created_at) in &object.rows {
                let day = day_of(created_at.micros());
                days_of_object.insert(day);
                if range.contains(*created_at)
                    && source_ids.get(&day).is_some_and(|ids| !ids.contains(id))
                {
                    foreign.insert(*id);
                    found = true;
                }
            }
            if object.complete {
                if found {
                    found_days.append(&mut days_of_object);
                    flagged.push(location.clone());
                }
                found = false;
                days_of_object.clear();
            }
            Ok(())
        })
        .await?;
    let mut foreign_ids: Vec<Uuid> = foreign.iter().copied().collect();
    foreign_ids.sort_unstable();
    foreign_ids.truncate(FOREIGN_IDS_KEPT);
    Ok(Found {
        objects: flagged,
        days: found_days,
        foreign_ids,
        foreign_count: foreign.len() as u64,
    })
}

/// Moves the objects `found` to the quarantine.
pub async fn move_found(reader: &LakeReader, found: Found) -> Result<Quarantine, Error> {
    let mut objects = Vec::with_capacity(found.objects.len());
    for location in &found.objects {
        let to = reader.quarantine(location).await?;
        tracing::warn!("moved the lake object {location} holding foreign rows to {to}");
        objects.push((location.to_string(), to.to_string()));
    }
    Ok(Quarantine {
        objects,
        foreign_ids: found.foreign_ids,
        foreign_count: found.foreign_count,
    })
}

/// The source's ids of `day` (within `range`).
async fn ids_of_day(source: &dyn Source, range: &Range, day: i64) -> Result<HashSet<Uuid>, Error> {
    let batching = Batching {
        size: ID_BATCH,
        bucket_micros: i64::try_from(DAY_SECONDS * 1_000_000).expect("a day in micros fits"),
    };
    let mut ids = HashSet::new();
    let mut batches = source.stream(range.query(Some(day)), batching);
    while let Some(batch) = batches.recv().await {
        let batch = batch.map_err(Error::from)?;
        for line in batch.json_array_items() {
            let row: IdOnly = serde_json::from_slice(line)
                .map_err(|e| anyhow::anyhow!("a source row without its followUpId: {e}"))?;
            ids.insert(row.id);
        }
    }
    Ok(ids)
}
