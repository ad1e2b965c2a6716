//! Counting each follow-up once per day in bounded memory. The lake may hold a follow-up in
//! several objects (a batch resent with other boundaries, the late-row audit's re-sends), so
//! its rows are deduplicated by `(day, id)` before they are counted and hashed.
//!
//! An external sort: pairs are collected in a chunk of at most [`CHUNK`] entries (24 bytes
//! each); a full chunk is sorted, deduplicated and spilled to an anonymous temporary file (in
//! `TMPDIR`, gone when the process ends). At the end the spilled runs are merged in order, each
//! pair counted once. Memory stays at one chunk plus a read buffer per run, whatever the lake's
//! size; disk use is at most 24 bytes per lake row. A lake that fits one chunk is never
//! written to disk.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use anyhow::Context;
use uuid::Uuid;

use crate::cursor::Fingerprint;

/// Entries held in memory before a spill: 6 MiB.
pub const CHUNK: usize = 1 << 18;

/// Runs merged at once at most: beyond it they are merged into one first (few open files).
const MAX_RUNS: usize = 64;

/// A `(day, id)` pair, the id as its two halves so that the pair is 24 bytes.
type Key = (i64, u64, u64);

const RECORD: usize = 24;

/// The distinct `(day, id)` pairs seen so far.
pub struct DistinctDays {
    chunk: Vec<Key>,
    limit: usize,
    runs: Vec<File>,
}

impl DistinctDays {
    pub fn new() -> DistinctDays {
        DistinctDays::with_chunk(CHUNK)
    }

    /// With chunks of `limit` entries (small ones in tests, to exercise the spill).
    pub fn with_chunk(limit: usize) -> DistinctDays {
        let limit = limit.max(1);
        DistinctDays {
            // Allocated once, at its final size, and reused after every spill.
            chunk: Vec::with_capacity(limit.min(CHUNK)),
            limit,
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, day: i64, id: &Uuid) -> anyhow::Result<()> {
        let (hi, lo) = id.as_u64_pair();
        self.chunk.push((day, hi, lo));
        if self.chunk.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> anyhow::Result<()> {
        self.chunk.sort_unstable();
        self.chunk.dedup();
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

    /// Each distinct pair counted once, per day.
    pub fn finish(mut self) -> anyhow::Result<BTreeMap<i64, Fingerprint>> {
        let mut days: BTreeMap<i64, Fingerprint> = BTreeMap::new();
        let mut add = |(day, hi, lo): Key| {
            days.entry(day)
                .or_default()
                .add(&Uuid::from_u64_pair(hi, lo));
        };
        if self.runs.is_empty() {
            self.chunk.sort_unstable();
            self.chunk.dedup();
            self.chunk.into_iter().for_each(&mut add);
        } else {
            if !self.chunk.is_empty() {
                self.spill()?;
            }
            let mut last = None;
            for key in Merge::new(self.runs)? {
                let key = key?;
                if last != Some(key) {
                    add(key);
                    last = Some(key);
                }
            }
        }
        Ok(days)
    }
}

impl Default for DistinctDays {
    fn default() -> Self {
        DistinctDays::new()
    }
}

/// Writes sorted keys to a new temporary file, rewound for reading.
fn write_run(keys: impl Iterator<Item = anyhow::Result<Key>>) -> anyhow::Result<File> {
    let failed = || {
        format!(
            "cannot write the sort's temporary file in {} (a full disk?); point TMPDIR at a \
             folder with room (24 bytes per lake row)",
            std::env::temp_dir().display()
        )
    };
    let file = tempfile::tempfile().with_context(failed)?;
    let mut out = BufWriter::new(file);
    for key in keys {
        let (day, hi, lo) = key?;
        let mut record = [0u8; RECORD];
        record[..8].copy_from_slice(&day.to_le_bytes());
        record[8..16].copy_from_slice(&hi.to_le_bytes());
        record[16..].copy_from_slice(&lo.to_le_bytes());
        out.write_all(&record).with_context(failed)?;
    }
    let mut file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(failed)?;
    file.rewind().with_context(failed)?;
    Ok(file)
}

fn read_key(reader: &mut BufReader<File>) -> anyhow::Result<Option<Key>> {
    let mut record = [0u8; RECORD];
    match reader.read_exact(&mut record) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e).context("cannot read back the sort's temporary file"),
    }
    let word = |i: usize| <[u8; 8]>::try_from(&record[i..i + 8]).expect("8 bytes");
    Ok(Some((
        i64::from_le_bytes(word(0)),
        u64::from_le_bytes(word(8)),
        u64::from_le_bytes(word(16)),
    )))
}

/// The keys of sorted runs, in order (duplicates across runs included).
struct Merge {
    readers: Vec<BufReader<File>>,
    heap: BinaryHeap<Reverse<(Key, usize)>>,
}

impl Merge {
    fn new(runs: Vec<File>) -> anyhow::Result<Merge> {
        let mut readers: Vec<_> = runs
            .into_iter()
            .map(|f| BufReader::with_capacity(64 * 1024, f))
            .collect();
        let mut heap = BinaryHeap::with_capacity(readers.len());
        for (i, reader) in readers.iter_mut().enumerate() {
            if let Some(key) = read_key(reader)? {
                heap.push(Reverse((key, i)));
            }
        }
        Ok(Merge { readers, heap })
    }
}

impl Iterator for Merge {
    type Item = anyhow::Result<Key>;

    fn next(&mut self) -> Option<Self::Item> {
        let Reverse((key, i)) = self.heap.pop()?;
        match read_key(&mut self.readers[i]) {
            Ok(Some(next)) => self.heap.push(Reverse((next, i))),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        Some(Ok(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn reference(pairs: &[(i64, Uuid)]) -> BTreeMap<i64, Fingerprint> {
        let distinct: std::collections::BTreeSet<_> = pairs.iter().copied().collect();
        let mut days: BTreeMap<i64, Fingerprint> = BTreeMap::new();
        for (day, id) in distinct {
            days.entry(day).or_default().add(&id);
        }
        days
    }

    #[test]
    fn duplicates_count_once_per_day_whether_or_not_the_sort_spills() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let ids: Vec<Uuid> = (0..500).map(|_| Uuid::from_u128(rng.random())).collect();
        // Every id on its day, many of them several times (resent batches).
        let mut pairs = Vec::new();
        for _ in 0..3000 {
            let id = ids[rng.random_range(0..ids.len())];
            let day = i64::from(id.as_u64_pair().1 as u8 % 5) - 2;
            pairs.push((day, id));
        }
        let expected = reference(&pairs);
        // One chunk; many spilled runs; more runs than are merged at once.
        for chunk in [CHUNK, 97, 3] {
            let mut distinct = DistinctDays::with_chunk(chunk);
            for (day, id) in &pairs {
                distinct.push(*day, id).unwrap();
            }
            assert_eq!(distinct.finish().unwrap(), expected, "chunk of {chunk}");
        }
        assert_eq!(
            expected.values().map(|f| f.count).sum::<u64>(),
            pairs
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len() as u64
        );
    }

    #[test]
    fn nothing_pushed_is_no_day() {
        assert!(DistinctDays::new().finish().unwrap().is_empty());
    }
}
