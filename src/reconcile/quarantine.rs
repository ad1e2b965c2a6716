//! `reconcile --repair` on days whose lake side holds foreign rows (follow-ups the source does
//! not have): the objects holding them are moved out of the lake, to
//! `guardrail_followups_quarantine/` beside it ([`super::lake::quarantine_key`]), where neither
//! reconcile nor the warehouse stage reads them. Their other rows are then missing from the
//! lake and the repair delivers them again.
//!
//! Memory: the ids of each foreign day in the source (16 bytes each, plus the set's overhead),
//! and the distinct foreign ids found; bounded by the rows of those days, not by the lake.
//! One pass reads the objects dated up to the last foreign day (an object holds no row of a day
//! before its `dt=`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use object_store::path::Path as ObjectPath;
use serde::Deserialize;
use uuid::Uuid;

use super::lake::LakeReader;
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
    /// Days of the moved objects' rows outside the compared range: delivered again too.
    pub outside_days: BTreeSet<i64>,
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
        self.outside_days.extend(other.outside_days);
    }
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(rename = "followUpId")]
    id: Uuid,
}

/// Moves every object holding a row of `days` (within `range`) that the source lacks.
pub async fn run(
    source: &dyn Source,
    reader: &LakeReader,
    range: &Range,
    days: &[i64],
) -> Result<Quarantine, Error> {
    let Some(&last_day) = days.iter().max() else {
        return Ok(Quarantine::default());
    };
    let mut source_ids: BTreeMap<i64, HashSet<Uuid>> = BTreeMap::new();
    for &day in days {
        source_ids.insert(day, ids_of_day(source, range, day).await?);
    }
    let mut foreign: HashSet<Uuid> = HashSet::new();
    let mut flagged: Vec<ObjectPath> = Vec::new();
    let mut outside_days = BTreeSet::new();
    reader
        .each_object(Some(last_day), |location, bytes| {
            let mut found = false;
            for row in reader.rows(location, bytes) {
                let (id, created_at) = row?;
                let day = day_of(created_at.micros());
                let is_foreign = range.contains(created_at)
                    && source_ids.get(&day).is_some_and(|ids| !ids.contains(&id));
                if is_foreign {
                    foreign.insert(id);
                    found = true;
                }
            }
            if found {
                for row in reader.rows(location, bytes) {
                    let (_, created_at) = row?;
                    if !range.contains(created_at) {
                        outside_days.insert(day_of(created_at.micros()));
                    }
                }
                flagged.push(location.clone());
            }
            Ok(())
        })
        .await?;
    let mut objects = Vec::with_capacity(flagged.len());
    for location in &flagged {
        let to = reader.quarantine(location).await?;
        tracing::warn!("moved the lake object {location} holding foreign rows to {to}");
        objects.push((location.to_string(), to.to_string()));
    }
    let mut foreign_ids: Vec<Uuid> = foreign.iter().copied().collect();
    foreign_ids.sort_unstable();
    foreign_ids.truncate(FOREIGN_IDS_KEPT);
    Ok(Quarantine {
        objects,
        foreign_ids,
        foreign_count: foreign.len() as u64,
        outside_days,
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
