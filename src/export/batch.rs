//! Batches: the unit a sink acknowledges and the cursor advances by. Rows are normalised and
//! serialised as they are added, so a batch is ready-to-write NDJSON.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use crate::cursor::Position;
use crate::cursor::fingerprint::{Fingerprint, bucket_of};
use crate::row::{FollowUp, RowRepairs, SourceRow, Tombstone, line_hash};
use uuid::Uuid;

/// Counts of what normalisation had to do, for the run's warnings, with the first few
/// follow-ups of each kind so that the warning names rows to look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairCounts {
    pub contexts_repaired: u64,
    pub contexts_nulled: u64,
    pub unknown_actions: u64,
    pub samples: RepairSamples,
}

/// How many follow-ups a warning names.
pub const SAMPLES: usize = 3;

/// The first [`SAMPLES`] follow-ups of each kind of repair, in the order they were exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairSamples {
    pub contexts_repaired: [Option<Uuid>; SAMPLES],
    pub contexts_nulled: [Option<Uuid>; SAMPLES],
    pub unknown_actions: [Option<Uuid>; SAMPLES],
}

fn keep(samples: &mut [Option<Uuid>; SAMPLES], id: Uuid) {
    if let Some(free) = samples.iter_mut().find(|s| s.is_none()) {
        *free = Some(id);
    }
}

impl RepairCounts {
    /// Counts what normalising the row `id` had to do.
    pub fn add(&mut self, id: Uuid, row: RowRepairs) {
        self.contexts_repaired += u64::from(row.context_repaired);
        self.contexts_nulled += u64::from(row.context_nulled);
        self.unknown_actions += u64::from(row.unknown_action);
        if row.context_repaired {
            keep(&mut self.samples.contexts_repaired, id);
        }
        if row.context_nulled {
            keep(&mut self.samples.contexts_nulled, id);
        }
        if row.unknown_action {
            keep(&mut self.samples.unknown_actions, id);
        }
    }
}

impl AddAssign for RepairCounts {
    fn add_assign(&mut self, other: RepairCounts) {
        self.contexts_repaired += other.contexts_repaired;
        self.contexts_nulled += other.contexts_nulled;
        self.unknown_actions += other.unknown_actions;
        let pairs = [
            (
                &mut self.samples.contexts_repaired,
                other.samples.contexts_repaired,
            ),
            (
                &mut self.samples.contexts_nulled,
                other.samples.contexts_nulled,
            ),
            (
                &mut self.samples.unknown_actions,
                other.samples.unknown_actions,
            ),
        ];
        for (mine, theirs) in pairs {
            for id in theirs.into_iter().flatten() {
                keep(mine, id);
            }
        }
    }
}

/// Consecutive rows in `(created_at, id)` order, serialised as NDJSON.
#[derive(Debug, Default)]
pub struct Batch {
    /// One JSON object per row, each followed by `\n`.
    pub ndjson: Vec<u8>,
    pub rows: u64,
    /// The first row's position, for messages.
    pub first: Option<Position>,
    /// The last row's position: where the cursor moves once this batch is acknowledged.
    pub last: Option<Position>,
    pub repairs: RepairCounts,
    /// Fingerprints of the batch's rows per audit bucket.
    pub fingerprints: BTreeMap<i64, Fingerprint>,
}

impl Batch {
    /// A batch of tombstones (`reconcile --repair` sends them for follow-ups deleted from the
    /// source): it moves no cursor and is in no audit bucket.
    pub fn of_tombstones(tombstones: &[Tombstone]) -> Batch {
        let mut ndjson = Vec::with_capacity(tombstones.len() * 128);
        for tombstone in tombstones {
            serde_json::to_writer(&mut ndjson, tombstone)
                .expect("a tombstone always serialises to a Vec");
            ndjson.push(b'\n');
        }
        Batch {
            ndjson,
            rows: tombstones.len() as u64,
            ..Batch::default()
        }
    }

    /// The rows as JSON values separated by commas, for wrapping in a JSON array.
    pub fn json_array_items(&self) -> impl Iterator<Item = &[u8]> {
        self.ndjson
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
    }
}

/// Adds `row` to the fingerprints of its bucket as a [`BatchBuilder`] would for a source
/// without change markers (its marker the hash of its exported line, written into `line`):
/// how such a source computes its side of the audit.
pub fn fingerprint_unmarked(
    fingerprints: &mut BTreeMap<i64, Fingerprint>,
    bucket_micros: i64,
    row: SourceRow,
    line: &mut Vec<u8>,
) {
    let (follow_up, _) = FollowUp::from_source(row);
    line.clear();
    serde_json::to_writer(&mut *line, &follow_up).expect("a row always serialises to a Vec");
    fingerprints
        .entry(bucket_of(follow_up.created_at, bucket_micros))
        .or_default()
        .add(&follow_up.follow_up_id, line_hash(line));
}

/// How rows are grouped: `size` rows per batch, fingerprinted per bucket of `bucket_micros`.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    pub size: u64,
    pub bucket_micros: i64,
}

/// Fills batches.
pub struct BatchBuilder {
    batching: Batching,
    current: Batch,
}

impl BatchBuilder {
    pub fn new(batching: Batching) -> BatchBuilder {
        BatchBuilder {
            batching,
            current: Batch::default(),
        }
    }

    /// Adds a row whose change marker is the hash of its exported line (a source without
    /// markers of its own); returns the batch when it is full.
    pub fn push(&mut self, row: SourceRow) -> Option<Batch> {
        self.push_marked(row, None)
    }

    /// Adds a row with its change marker (PostgreSQL's `xmin`), or `None` for the hash of its
    /// exported line; returns the batch when it is full.
    pub fn push_marked(&mut self, row: SourceRow, change: Option<u64>) -> Option<Batch> {
        let (follow_up, repairs) = FollowUp::from_source(row);
        let start = self.current.ndjson.len();
        serde_json::to_writer(&mut self.current.ndjson, &follow_up)
            .expect("a row always serialises to a Vec");
        let change = change.unwrap_or_else(|| line_hash(&self.current.ndjson[start..]));
        self.current.ndjson.push(b'\n');
        self.current.rows += 1;
        self.current.repairs.add(follow_up.follow_up_id, repairs);
        let position = Position {
            created_at: follow_up.created_at,
            id: Some(follow_up.follow_up_id),
        };
        self.current.first.get_or_insert(position);
        self.current.last = Some(position);
        let bucket = bucket_of(follow_up.created_at, self.batching.bucket_micros);
        self.current
            .fingerprints
            .entry(bucket)
            .or_default()
            .add(&follow_up.follow_up_id, change);
        (self.current.rows >= self.batching.size).then(|| self.take())
    }

    /// The rows added since the last full batch, if any.
    pub fn finish(mut self) -> Option<Batch> {
        (self.current.rows > 0).then(|| self.take())
    }

    fn take(&mut self) -> Batch {
        let capacity = self.current.ndjson.len();
        std::mem::replace(
            &mut self.current,
            Batch {
                ndjson: Vec::with_capacity(capacity),
                ..Batch::default()
            },
        )
    }
}
