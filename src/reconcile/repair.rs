//! `reconcile --repair`: the missing and stale follow-ups delivered again through the export's
//! sink (their new objects are the newest copies, which the warehouse MERGE keeps), and a
//! tombstone sent for each foreign one (the MERGE removes the follow-up). The lake keeps what
//! it has: a newer copy wins over an older one there as in the warehouse. The export's cursor
//! is neither read nor moved.
//!
//! Memory: the ids to deliver again, up to [`REDELIVER_IDS`] (beyond it their days are
//! delivered whole); the foreign ids wait in a temporary file and are handled
//! [`LOOKUP_IDS`] at a time.

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

use anyhow::Context;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use uuid::Uuid;

use super::content::{Finding, Kind};
use super::lake::{self, LakeReader};
use super::quarantine::Quarantine;
use super::{Range, RepairConfig};
use crate::error::Error;
use crate::export::batch::{Batch, Batching};
use crate::export::sink::{Ack, Sink, SinkError};
use crate::export::source::{DAY_SECONDS, Source};
use crate::row::Tombstone;
use crate::time::Timestamp;

/// Ids delivered again one by one at most; with more, their days are delivered whole.
pub const REDELIVER_IDS: usize = 100_000;

/// Foreign ids looked up in the source at once.
pub const LOOKUP_IDS: usize = 10_000;

/// What a repair delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Through which sink.
    pub sink: String,
    /// The days whose rows were delivered again (some or all of them).
    pub days: Vec<i64>,
    /// Rows delivered again.
    pub rows: u64,
    /// Tombstones sent.
    pub tombstones: u64,
    /// Foreign in the lake's range but still in the source, with another `createdAt`: no
    /// tombstone (the row's own copy is delivered on its day).
    pub moved: u64,
    /// The damaged entries moved out of the lake.
    pub quarantine: Quarantine,
}

impl Repaired {
    /// Adds a later delivery.
    pub fn merge(&mut self, other: Repaired) {
        if self.sink.is_empty() {
            self.sink = other.sink;
        }
        self.days.extend(other.days);
        self.days.sort_unstable();
        self.days.dedup();
        self.rows += other.rows;
        self.tombstones += other.tombstones;
        self.moved += other.moved;
        self.quarantine.merge(other.quarantine);
    }
}

/// What one comparison found that a repair acts on.
pub struct Differences {
    /// The days of the missing and stale follow-ups.
    days: BTreeSet<i64>,
    /// Their ids; `None` once there are more than [`REDELIVER_IDS`].
    ids: Option<HashSet<Uuid>>,
    /// The foreign ones: id and the lake copy's `createdAt`, 24 bytes each.
    foreign: Option<BufWriter<File>>,
    foreign_count: u64,
}

impl Default for Differences {
    fn default() -> Self {
        Differences {
            days: BTreeSet::new(),
            ids: Some(HashSet::new()),
            foreign: None,
            foreign_count: 0,
        }
    }
}

impl Differences {
    pub fn add(&mut self, finding: &Finding) -> anyhow::Result<()> {
        match finding.kind {
            Kind::Missing | Kind::Stale => {
                self.days.insert(finding.day());
                if let Some(ids) = &mut self.ids {
                    if ids.len() < REDELIVER_IDS {
                        ids.insert(finding.id);
                    } else {
                        self.ids = None;
                    }
                }
            }
            Kind::Foreign => {
                let file = match &mut self.foreign {
                    Some(file) => file,
                    None => self.foreign.insert(BufWriter::new(
                        tempfile::tempfile().context(spill_failed())?,
                    )),
                };
                file.write_all(finding.id.as_bytes())
                    .and_then(|()| file.write_all(&finding.created_at.micros().to_le_bytes()))
                    .context(spill_failed())?;
                self.foreign_count += 1;
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty() && self.foreign_count == 0
    }
}

fn spill_failed() -> String {
    format!(
        "cannot write the repair's list of foreign follow-ups in {} (a full disk?); point \
         TMPDIR at a folder with room (24 bytes per foreign follow-up)",
        std::env::temp_dir().display()
    )
}

/// Delivers the missing and stale follow-ups again, then sends tombstones for the foreign
/// ones the source does not hold at all.
pub async fn apply(
    source: &dyn Source,
    lake: &LakeReader,
    sink: &mut dyn Sink,
    config: &RepairConfig,
    range: &Range,
    differences: Differences,
) -> Result<Repaired, Error> {
    let days: Vec<i64> = differences.days.iter().copied().collect();
    let ids = differences.ids.as_ref();
    let mut repaired = redeliver(source, lake, sink, config, range, &days, ids).await?;
    if let Some(file) = differences.foreign {
        let (tombstones, moved) = bury(source, sink, config, file).await?;
        repaired.tombstones += tombstones;
        repaired.moved += moved;
    }
    Ok(repaired)
}

/// Delivers the rows of `days` (within `range`) again through `sink` (opened once for the
/// whole repair, so a file sink holds every row the repair delivered): only those in `ids`
/// when given, all of them otherwise, each batch under a key the lake does not hold yet
/// ([`fresh_cuts`]). Up to the sink's deliveries in flight at once; `Ok` once the sink
/// acknowledged all of them.
pub async fn redeliver(
    source: &dyn Source,
    lake: &LakeReader,
    sink: &mut dyn Sink,
    config: &RepairConfig,
    range: &Range,
    days: &[i64],
    ids: Option<&HashSet<Uuid>>,
) -> Result<Repaired, Error> {
    let batching = Batching {
        size: config.batch_size,
        bucket_micros: i64::try_from(DAY_SECONDS * 1_000_000).expect("a day in micros fits"),
    };
    let mut rows = 0;
    let mut pending = FuturesUnordered::new();
    for &day in days {
        let mut batches = source.stream(range.query(Some(day)), batching);
        while let Some(batch) = batches.recv().await {
            let batch = batch.map_err(Error::from)?;
            let lines: Vec<&[u8]> = batch.json_array_items().collect();
            let selected = match ids {
                Some(ids) => lines
                    .iter()
                    .map(|line| Ok(ids.contains(&line_id(line)?)))
                    .collect::<Result<Vec<bool>, Error>>()?,
                None => vec![true; lines.len()],
            };
            for cut in fresh_cuts(lake, &lines, selected).await? {
                while pending.len() >= sink.in_flight() {
                    if let Some(sent) = pending.next().await {
                        delivered(sent)?;
                    }
                }
                rows += cut.rows;
                pending.push(sink.send(cut));
            }
        }
        tracing::info!("delivered {} again", super::day_name(day));
    }
    while let Some(sent) = pending.next().await {
        delivered(sent)?;
    }
    Ok(Repaired {
        sink: config.sink_name.clone(),
        days: days.to_vec(),
        rows,
        ..Repaired::default()
    })
}

/// Other rows tried beside a batch whose key the lake holds, one at a time.
const COMPANIONS: usize = 3;

/// Batches that deliver the `selected` lines (in their order) under keys the lake does not
/// hold. A key is the hash of its batch's rows, so a repair batch can be one the lake already
/// has: a row edited and then edited back, sent alone as an earlier repair sent it (the same
/// bytes: the gateway keeps the older object and the warehouse loads nothing new), or a
/// damaged object under the very key of the rows it lost (other bytes: the gateway refuses
/// them). Such a batch is cut otherwise: with one more row of `lines` beside it (sent as the
/// source holds it now, which changes nothing for that row), or, when it is every line, in two
/// halves, each tried the same way. A row that fits in no batch the lake lacks is left out
/// with a warning, and the comparison that follows the repair still reports it.
async fn fresh_cuts(
    lake: &LakeReader,
    lines: &[&[u8]],
    selected: Vec<bool>,
) -> Result<Vec<Batch>, Error> {
    let mut cuts = Vec::new();
    let mut work = vec![selected];
    while let Some(mask) = work.pop() {
        let chosen: Vec<usize> = (0..lines.len()).filter(|&i| mask[i]).collect();
        if chosen.is_empty() {
            continue;
        }
        let companions = (0..lines.len()).filter(|&i| !mask[i]).take(COMPANIONS);
        let tries = std::iter::once(None).chain(companions.map(Some));
        let mut fresh = None;
        for companion in tries {
            let mut mask = mask.clone();
            if let Some(i) = companion {
                mask[i] = true;
            }
            let batch = batch_of(lines, &mask);
            if !lake.holds(&lake_key(&batch)?).await? {
                fresh = Some(batch);
                break;
            }
        }
        match fresh {
            Some(batch) => cuts.push(batch),
            None if chosen.len() >= 2 => {
                let (first, second) = chosen.split_at(chosen.len() / 2);
                for half in [second, first] {
                    let mut mask = vec![false; lines.len()];
                    for &i in half {
                        mask[i] = true;
                    }
                    work.push(mask);
                }
            }
            None => tracing::warn!(
                "follow-up {} is not delivered again: every batch it could go in is already in \
                 the lake; the comparison after the repair reports it",
                line_id(lines[chosen[0]])?
            ),
        }
    }
    Ok(cuts)
}

/// The batch of the marked lines, in their order.
fn batch_of(lines: &[&[u8]], mask: &[bool]) -> Batch {
    let mut batch = Batch::default();
    for (line, _) in lines.iter().zip(mask).filter(|(_, chosen)| **chosen) {
        batch.ndjson.extend_from_slice(line);
        batch.ndjson.push(b'\n');
        batch.rows += 1;
    }
    batch
}

/// Where the gateway stores `batch`: dated by its first row's day, named by its idempotency key.
fn lake_key(batch: &Batch) -> Result<String, Error> {
    let first = batch
        .json_array_items()
        .next()
        .expect("a batch of chosen rows");
    let day = read_line(first)?.day();
    let date = super::day_start(day).to_datetime().date_naive();
    Ok(crate::lake_layout::batch_key(
        date,
        &crate::wire::idempotency_key(&batch.ndjson),
    ))
}

/// A source row as the lake reader reads it.
fn read_line(line: &[u8]) -> Result<super::content::Copy, Error> {
    lake::line_copy(line, (0, 0))
        .map_err(|e| anyhow::anyhow!("a source row the lake reader cannot read: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("a blank source row").into())
}

fn line_id(line: &[u8]) -> Result<Uuid, Error> {
    Ok(read_line(line)?.uuid())
}

/// Sends a tombstone for each foreign follow-up the source does not hold (whatever its
/// `createdAt`): returns how many were sent and how many are still in the source.
async fn bury(
    source: &dyn Source,
    sink: &mut dyn Sink,
    config: &RepairConfig,
    file: BufWriter<File>,
) -> Result<(u64, u64), Error> {
    let mut file = file
        .into_inner()
        .map_err(|e| e.into_error())
        .context(spill_failed())?;
    file.rewind().context(spill_failed())?;
    let mut reader = BufReader::new(file);
    let deleted_at = Timestamp::now();
    let (mut sent, mut moved) = (0, 0);
    loop {
        let mut chunk: Vec<(Uuid, Timestamp)> = Vec::with_capacity(LOOKUP_IDS);
        let mut record = [0u8; 24];
        while chunk.len() < LOOKUP_IDS {
            match reader.read_exact(&mut record) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(anyhow::Error::new(e).context(spill_failed()).into()),
            }
            let id = Uuid::from_slice(&record[..16]).expect("16 bytes");
            let micros = i64::from_le_bytes(record[16..].try_into().expect("8 bytes"));
            chunk.push((id, Timestamp::from_micros(micros)));
        }
        if chunk.is_empty() {
            break;
        }
        let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
        let present = source.existing(&ids).await.map_err(Error::from)?;
        let mut tombstones: Vec<Tombstone> = chunk
            .iter()
            .filter(|(id, _)| !present.contains(id))
            .map(|&(follow_up_id, created_at)| Tombstone {
                follow_up_id,
                created_at,
                deleted_at,
            })
            .collect();
        moved += (chunk.len() - tombstones.len()) as u64;
        // In (createdAt, id) order, as the export sends rows: each object's `dt=` is then the
        // day of its first line and no line of it is older.
        tombstones.sort_unstable_by_key(|t| (t.created_at, t.follow_up_id));
        let size = usize::try_from(config.batch_size.max(1)).unwrap_or(usize::MAX);
        for part in tombstones.chunks(size) {
            sink.send(Batch::of_tombstones(part))
                .await
                .map_err(sink_error)?;
            sent += part.len() as u64;
        }
    }
    if sent > 0 {
        tracing::info!("sent {sent} tombstones for follow-ups deleted from the source");
    }
    Ok((sent, moved))
}

fn delivered(sent: Result<Ack, SinkError>) -> Result<(), Error> {
    sent.map(|_| ()).map_err(sink_error)
}

/// Ends the repair's deliveries: a file sink's file is written now.
pub async fn finish(sink: Box<dyn Sink>) -> Result<(), Error> {
    sink.finish().await.map_err(sink_error)
}

fn sink_error(e: SinkError) -> Error {
    match e {
        SinkError::Closed => {
            anyhow::anyhow!("the repair's output was closed before it was complete").into()
        }
        SinkError::Failed(e) => e.into(),
    }
}
