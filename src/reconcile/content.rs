//! Comparing the source with the lake follow-up by follow-up, by content, in bounded memory.
//!
//! Each side becomes a list of [`Copy`] records — a follow-up's id, where its copy sits in the
//! lake's order (the object's modification time, then its place in the key order: the MERGE's
//! rule), its `createdAt` and a 64-bit hash of its exported line — sorted by id with an
//! external sort ([`Sorter`]). The source has one copy per follow-up (the line the export would
//! write now); the lake one per line read. The sorted lists are then walked together
//! ([`join`]): of a follow-up's lake copies the last one (the newest) is the one the warehouse
//! keeps, and it is compared with the source's line. A follow-up is **missing** when the lake
//! has no copy of it (or its newest copy is a tombstone), **foreign** when the source lacks it,
//! **stale** when the lines differ (an edit the lake never got, a copy changed in the lake).
//!
//! Written by hand: a run is a flat file of fixed 48-byte records, merged with a binary heap;
//! the external-sort crates sort serde values with per-record framing and allocation, which is
//! several times slower for this one record type, and none merges two sorted inputs.
//! Memory: one chunk of [`CHUNK`] records per side plus a read buffer per spilled run; disk: 48
//! bytes per row and lake line, in `TMPDIR`, gone when the process ends. A side that fits one
//! chunk is never written to disk.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use anyhow::Context;
use uuid::Uuid;

use super::day_of;
use crate::time::Timestamp;

/// Records held in memory before a spill: 6 MiB.
pub const CHUNK: usize = 1 << 17;

/// Runs merged at once at most: beyond it they are merged into one first (few open files).
const MAX_RUNS: usize = 64;

const RECORD: usize = 48;

/// The hash of a tombstone's copy: no line hashes to it ([`line_hash`] moves it).
const TOMBSTONE: u64 = 0;

/// The hash of an exported line, as both sides compute it.
pub fn line_hash(line: &[u8]) -> u64 {
    match crate::row::line_hash(line) {
        TOMBSTONE => 1,
        hash => hash,
    }
}

/// One copy of a follow-up. Ordered by id, then by the copy's place in the lake's order, so
/// that a follow-up's newest copy is its last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Copy {
    /// The id as its two halves (big-endian: the uuid's byte order).
    pub id: (u64, u64),
    /// The object's modification time in microseconds, then its place in the key order (zero
    /// on the source's side).
    pub order: (i64, u64),
    /// `createdAt` in microseconds.
    pub created_at: i64,
    /// [`line_hash`] of the line, or [`TOMBSTONE`].
    pub hash: u64,
}

impl Copy {
    pub fn row(id: &Uuid, order: (i64, u64), created_at: Timestamp, line: &[u8]) -> Copy {
        Copy {
            id: id.as_u64_pair(),
            order,
            created_at: created_at.micros(),
            hash: line_hash(line),
        }
    }

    pub fn tombstone(id: &Uuid, order: (i64, u64), created_at: Timestamp) -> Copy {
        Copy {
            hash: TOMBSTONE,
            ..Copy::row(id, order, created_at, b"")
        }
    }

    pub fn is_tombstone(&self) -> bool {
        self.hash == TOMBSTONE
    }

    pub fn uuid(&self) -> Uuid {
        Uuid::from_u64_pair(self.id.0, self.id.1)
    }

    pub fn day(&self) -> i64 {
        day_of(self.created_at)
    }

    fn to_bytes(self) -> [u8; RECORD] {
        let mut record = [0u8; RECORD];
        let words = [
            self.id.0,
            self.id.1,
            self.order.0 as u64,
            self.order.1,
            self.created_at as u64,
            self.hash,
        ];
        for (i, word) in words.iter().enumerate() {
            record[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        record
    }

    fn from_bytes(record: &[u8; RECORD]) -> Copy {
        let word = |i: usize| {
            u64::from_le_bytes(<[u8; 8]>::try_from(&record[i * 8..i * 8 + 8]).expect("8 bytes"))
        };
        Copy {
            id: (word(0), word(1)),
            order: (word(2) as i64, word(3)),
            created_at: word(4) as i64,
            hash: word(5),
        }
    }
}

/// Copies collected in any order, given back sorted.
pub struct Sorter {
    chunk: Vec<Copy>,
    limit: usize,
    runs: Vec<File>,
}

impl Sorter {
    pub fn new() -> Sorter {
        Sorter::with_chunk(CHUNK)
    }

    /// With chunks of `limit` records (small ones in tests, to exercise the spill).
    pub fn with_chunk(limit: usize) -> Sorter {
        let limit = limit.max(1);
        Sorter {
            // Allocated once, at its final size, and reused after every spill.
            chunk: Vec::with_capacity(limit.min(CHUNK)),
            limit,
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, copy: Copy) -> anyhow::Result<()> {
        self.chunk.push(copy);
        if self.chunk.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> anyhow::Result<()> {
        self.chunk.sort_unstable();
        let run = write_run(self.chunk.iter().copied().map(Ok))?;
        self.chunk.clear();
        self.runs.push(run);
        if self.runs.len() >= MAX_RUNS {
            let runs = std::mem::take(&mut self.runs);
            let merged = write_run(Merge::new(runs)?)?;
            self.runs.push(merged);
        }
        Ok(())
    }

    /// Every copy pushed, in order.
    pub fn finish(mut self) -> anyhow::Result<Sorted> {
        if self.runs.is_empty() {
            self.chunk.sort_unstable();
            return Ok(Sorted::Memory(self.chunk.into_iter()));
        }
        if !self.chunk.is_empty() {
            self.spill()?;
        }
        Ok(Sorted::Runs(Merge::new(self.runs)?))
    }
}

impl Default for Sorter {
    fn default() -> Self {
        Sorter::new()
    }
}

/// Sorted copies, from memory or merged from spilled runs.
pub enum Sorted {
    Memory(std::vec::IntoIter<Copy>),
    Runs(Merge),
}

impl Iterator for Sorted {
    type Item = anyhow::Result<Copy>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Sorted::Memory(copies) => copies.next().map(Ok),
            Sorted::Runs(merge) => merge.next(),
        }
    }
}

/// Writes sorted copies to a new temporary file, rewound for reading.
fn write_run(copies: impl Iterator<Item = anyhow::Result<Copy>>) -> anyhow::Result<File> {
    let failed = || {
        format!(
            "cannot write the sort's temporary file in {} (a full disk?); point TMPDIR at a \
             folder with room (48 bytes per source row and lake line)",
            std::env::temp_dir().display()
        )
    };
    let file = tempfile::tempfile().with_context(failed)?;
    let mut out = BufWriter::new(file);
    for copy in copies {
        out.write_all(&copy?.to_bytes()).with_context(failed)?;
    }
    let mut file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(failed)?;
    file.rewind().with_context(failed)?;
    Ok(file)
}

fn read_copy(reader: &mut BufReader<File>) -> anyhow::Result<Option<Copy>> {
    let mut record = [0u8; RECORD];
    match reader.read_exact(&mut record) {
        Ok(()) => Ok(Some(Copy::from_bytes(&record))),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e).context("cannot read back the sort's temporary file"),
    }
}

/// The copies of sorted runs, in order.
pub struct Merge {
    readers: Vec<BufReader<File>>,
    heap: BinaryHeap<Reverse<(Copy, usize)>>,
}

impl Merge {
    fn new(runs: Vec<File>) -> anyhow::Result<Merge> {
        let mut readers: Vec<_> = runs
            .into_iter()
            .map(|f| BufReader::with_capacity(64 * 1024, f))
            .collect();
        let mut heap = BinaryHeap::with_capacity(readers.len());
        for (i, reader) in readers.iter_mut().enumerate() {
            if let Some(copy) = read_copy(reader)? {
                heap.push(Reverse((copy, i)));
            }
        }
        Ok(Merge { readers, heap })
    }
}

impl Iterator for Merge {
    type Item = anyhow::Result<Copy>;

    fn next(&mut self) -> Option<Self::Item> {
        let Reverse((copy, i)) = self.heap.pop()?;
        match read_copy(&mut self.readers[i]) {
            Ok(Some(next)) => self.heap.push(Reverse((next, i))),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        Some(Ok(copy))
    }
}

/// How a follow-up differs between the source and the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// In the source, not in the lake (or deleted there by a tombstone).
    Missing,
    /// In the lake, not in the source: deleted after delivery, or written by something else.
    Foreign,
    /// In both, with other content.
    Stale,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Missing, Kind::Foreign, Kind::Stale];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Foreign => "foreign",
            Kind::Stale => "stale",
        }
    }
}

/// One follow-up that differs. `created_at` is the source's for a missing or stale one, the
/// lake copy's for a foreign one: its day is the day it is reported on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub id: Uuid,
    pub created_at: Timestamp,
}

impl Finding {
    pub fn day(&self) -> i64 {
        day_of(self.created_at.micros())
    }
}

/// One day's counts on both sides and of each kind of difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Follow-ups in the source.
    pub source: u64,
    /// Follow-ups in the lake: distinct, by the day of the newest copy, tombstones left out.
    pub lake: u64,
    pub missing: u64,
    pub foreign: u64,
    pub stale: u64,
}

impl DayCounts {
    pub fn differs(&self) -> bool {
        self.missing + self.foreign + self.stale > 0
    }

    pub fn of(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Missing => self.missing,
            Kind::Foreign => self.foreign,
            Kind::Stale => self.stale,
        }
    }

    fn add(&mut self, kind: Kind) {
        match kind {
            Kind::Missing => self.missing += 1,
            Kind::Foreign => self.foreign += 1,
            Kind::Stale => self.stale += 1,
        }
    }
}

/// Walks the two sorted sides together: per day, the counts of each side and of each kind;
/// each finding handed to `found` in id order.
pub fn join(
    source: impl Iterator<Item = anyhow::Result<Copy>>,
    lake: impl Iterator<Item = anyhow::Result<Copy>>,
    mut found: impl FnMut(Finding) -> anyhow::Result<()>,
) -> anyhow::Result<BTreeMap<i64, DayCounts>> {
    let mut days: BTreeMap<i64, DayCounts> = BTreeMap::new();
    let mut source = source;
    let mut lake = Newest {
        copies: lake.peekable(),
    };
    let mut next_source = source.next().transpose()?;
    let mut next_lake = lake.next().transpose()?;
    let mut report = |days: &mut BTreeMap<i64, DayCounts>, kind: Kind, copy: &Copy| {
        let finding = Finding {
            kind,
            id: copy.uuid(),
            created_at: Timestamp::from_micros(copy.created_at),
        };
        days.entry(finding.day()).or_default().add(kind);
        found(finding)
    };
    /// Which side's follow-up comes next in id order.
    enum Step {
        Source(Copy),
        Lake(Copy),
        Both(Copy, Copy),
    }
    loop {
        let step = match (next_source, next_lake) {
            (None, None) => break,
            (Some(s), None) => Step::Source(s),
            (None, Some(l)) => Step::Lake(l),
            (Some(s), Some(l)) => match s.id.cmp(&l.id) {
                std::cmp::Ordering::Less => Step::Source(s),
                std::cmp::Ordering::Greater => Step::Lake(l),
                std::cmp::Ordering::Equal => Step::Both(s, l),
            },
        };
        if let Step::Source(s) | Step::Both(s, _) = step {
            days.entry(s.day()).or_default().source += 1;
            next_source = source.next().transpose()?;
        }
        if let Step::Lake(l) | Step::Both(_, l) = step {
            // A tombstone as the newest copy counts as no copy.
            if !l.is_tombstone() {
                days.entry(l.day()).or_default().lake += 1;
            }
            next_lake = lake.next().transpose()?;
        }
        match step {
            Step::Source(s) => report(&mut days, Kind::Missing, &s)?,
            Step::Lake(l) if !l.is_tombstone() => report(&mut days, Kind::Foreign, &l)?,
            Step::Lake(_) => {}
            Step::Both(s, l) if l.is_tombstone() => report(&mut days, Kind::Missing, &s)?,
            Step::Both(s, l) if l.hash != s.hash => report(&mut days, Kind::Stale, &s)?,
            Step::Both(..) => {}
        }
    }
    Ok(days)
}

/// The newest copy of each follow-up: the last of each run of equal ids.
struct Newest<I: Iterator<Item = anyhow::Result<Copy>>> {
    copies: std::iter::Peekable<I>,
}

impl<I: Iterator<Item = anyhow::Result<Copy>>> Iterator for Newest<I> {
    type Item = anyhow::Result<Copy>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut newest = match self.copies.next()? {
            Ok(copy) => copy,
            Err(e) => return Some(Err(e)),
        };
        loop {
            match self.copies.peek() {
                Some(Ok(next)) if next.id == newest.id => {
                    newest = *next;
                    self.copies.next();
                }
                // An error comes with the next call.
                _ => return Some(Ok(newest)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn at(day: i64) -> Timestamp {
        Timestamp::from_micros(day * 86_400_000_000 + 1)
    }

    fn sorted(copies: &[Copy], chunk: usize) -> Vec<anyhow::Result<Copy>> {
        let mut sorter = Sorter::with_chunk(chunk);
        for copy in copies {
            sorter.push(*copy).unwrap();
        }
        sorter.finish().unwrap().collect()
    }

    #[test]
    fn copies_come_back_sorted_whether_or_not_the_sort_spills() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let copies: Vec<Copy> = (0..3000)
            .map(|_| Copy {
                id: (rng.random_range(0..50), rng.random()),
                order: (rng.random(), rng.random()),
                created_at: rng.random(),
                hash: rng.random(),
            })
            .collect();
        let mut expected = copies.clone();
        expected.sort();
        for chunk in [CHUNK, 97, 3] {
            let got: Vec<Copy> = sorted(&copies, chunk)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got, expected, "chunk of {chunk}");
        }
        assert!(sorted(&[], CHUNK).is_empty());
    }

    #[test]
    fn the_newest_copy_is_compared_and_each_kind_is_counted_on_its_day() {
        let id = |n: u128| Uuid::from_u128(n);
        let line = |text: &str| text.as_bytes().to_vec();
        let source = [
            Copy::row(&id(1), (0, 0), at(1), &line("same")),
            Copy::row(&id(2), (0, 0), at(1), &line("new")),
            Copy::row(&id(3), (0, 0), at(2), &line("missing")),
            Copy::row(&id(5), (0, 0), at(2), &line("deleted in the lake")),
            Copy::row(&id(6), (0, 0), at(3), &line("edited back")),
        ];
        let lake = [
            Copy::row(&id(1), (10, 1), at(1), &line("same")),
            Copy::row(&id(1), (5, 1), at(1), &line("old")),
            Copy::row(&id(2), (10, 1), at(1), &line("old")),
            Copy::row(&id(2), (9, 1), at(1), &line("new")),
            Copy::row(&id(4), (10, 2), at(2), &line("foreign")),
            Copy::row(&id(5), (10, 2), at(2), &line("deleted in the lake")),
            Copy::tombstone(&id(5), (11, 0), at(2)),
            Copy::tombstone(&id(7), (11, 0), at(3)),
            Copy::row(&id(7), (10, 0), at(3), &line("deleted")),
            Copy::row(&id(6), (10, 0), at(3), &line("edited")),
            Copy::row(&id(6), (10, 1), at(3), &line("edited back")),
        ];
        for chunk in [CHUNK, 2] {
            let mut findings = Vec::new();
            let days = join(
                sorted(&source, chunk).into_iter(),
                sorted(&lake, chunk).into_iter(),
                |f| {
                    findings.push((f.kind, f.id, f.day()));
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(
                findings,
                [
                    (Kind::Stale, id(2), 1),
                    (Kind::Missing, id(3), 2),
                    (Kind::Foreign, id(4), 2),
                    (Kind::Missing, id(5), 2),
                ]
            );
            let counts = |source, lake, missing, foreign, stale| DayCounts {
                source,
                lake,
                missing,
                foreign,
                stale,
            };
            assert_eq!(
                days,
                BTreeMap::from([
                    (1, counts(2, 2, 0, 0, 1)),
                    (2, counts(2, 1, 2, 1, 0)),
                    (3, counts(1, 1, 0, 0, 0)),
                ])
            );
        }
    }

    #[test]
    fn no_line_hashes_like_a_tombstone() {
        assert_ne!(line_hash(b""), TOMBSTONE);
        assert!(!Copy::row(&Uuid::nil(), (0, 0), at(0), b"x").is_tombstone());
    }
}
