//! `reconcile --repair`: every differing day's source rows delivered again, whole, through the
//! export's sink. The lake keeps what it has (a resent batch lands under its own idempotency
//! key, and the warehouse MERGE absorbs rows already there); only objects holding foreign rows
//! are moved out of it ([`super::quarantine`]). The export's cursor is neither read nor moved.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::quarantine::Quarantine;
use super::{Range, RepairConfig};
use crate::error::Error;
use crate::export::batch::Batching;
use crate::export::sink::{Ack, Sink, SinkError};
use crate::export::source::{DAY_SECONDS, Source};

/// What a repair delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Through which sink.
    pub sink: String,
    /// The days delivered again.
    pub days: Vec<i64>,
    pub rows: u64,
    /// The objects moved out of the lake for their foreign rows.
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
        self.quarantine.merge(other.quarantine);
    }
}

/// Delivers the rows of `days` (within `range`) again through `sink` (opened once for the
/// whole repair, so a file sink holds every row the repair delivered), up to the sink's
/// deliveries in flight at once; `Ok` once the sink acknowledged all of them.
pub async fn redeliver(
    source: &dyn Source,
    sink: &mut dyn Sink,
    config: &RepairConfig,
    range: &Range,
    days: &[i64],
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
            while pending.len() >= sink.in_flight() {
                if let Some(sent) = pending.next().await {
                    delivered(sent)?;
                }
            }
            rows += batch.rows;
            pending.push(sink.send(batch));
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
        quarantine: Quarantine::default(),
    })
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
