//! `reconcile`: prove that the lake holds the source, follow-up by follow-up and by content.
//! The source's rows (the lines the export would write now) and the lake's lines are sorted by
//! id in bounded memory and walked together ([`content`]): of the lake's copies of a follow-up
//! the newest (by the object's modification time, then its key — the warehouse MERGE's rule)
//! is compared with the source's line. Per UTC day of `createdAt` the report counts the
//! follow-ups **missing** from the lake, **foreign** to it (deleted from the source) and
//! **stale** (other content). With a repair, damaged entries leave the lake first
//! ([`quarantine`]), then the missing and stale follow-ups are delivered again and tombstones
//! are sent for the foreign ones ([`repair`]), and the lake is compared once more; the export's
//! cursor is not touched.

mod content;
mod lake;
mod progress;
mod quarantine;
mod repair;
pub mod report;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use crate::cursor::Position;
use crate::error::Error;
use crate::export::sink::SinkConfig;
use crate::export::source::{Query, Source, SourceConfig};
use crate::lake_layout::LakeUri;
use crate::s3::S3Options;
use crate::time::Timestamp;

pub use crate::lake_layout::{QUARANTINE_PREFIX, quarantine_key};
pub use content::{DayCounts, Finding, Kind};
pub use lake::{Damaged, LakeTotals};
use progress::Progress;
pub use quarantine::Quarantine;
pub use repair::Repaired;

/// Differing follow-ups kept for the report, per kind (the counts cover all of them).
pub const IDS_KEPT: usize = 1000;

/// Microseconds in a UTC day.
const DAY_MICROS: i64 = 86_400_000_000;

/// The UTC day (days since 1970-01-01) of an instant in microseconds.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(DAY_MICROS)
}

/// The first instant of a day.
pub fn day_start(day: i64) -> Timestamp {
    Timestamp::from_micros(day.saturating_mul(DAY_MICROS))
}

/// The day as `YYYY-MM-DD`.
pub fn day_name(day: i64) -> String {
    day_start(day).to_datetime().format("%Y-%m-%d").to_string()
}

/// The compared rows: `created_at` at or after `since`, before `until`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl Range {
    pub fn contains(&self, at: Timestamp) -> bool {
        self.since.is_none_or(|since| at >= since) && self.until.is_none_or(|until| at < until)
    }

    /// The part of `day` inside the range, as a source query.
    fn query(&self, day: Option<i64>) -> Query {
        let mut since = self.since;
        let mut until = self.until;
        if let Some(day) = day {
            since = Some(since.map_or(day_start(day), |s| s.max(day_start(day))));
            until = Some(until.map_or(day_start(day + 1), |u| u.min(day_start(day + 1))));
        }
        Query {
            after: since.map(|created_at| Position {
                created_at,
                id: None,
            }),
            before: until,
            ..Query::default()
        }
    }
}

/// A validated reconcile configuration.
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    pub source: SourceConfig,
    pub lake: LakeUri,
    pub s3: S3Options,
    pub range: Range,
    /// Deliver the differing days again.
    pub repair: Option<RepairConfig>,
    /// Show progress on stderr.
    pub progress: bool,
}

/// Where a repair delivers, as the export would.
#[derive(Debug, Clone)]
pub struct RepairConfig {
    pub sink: SinkConfig,
    /// The sink's name for the output (`webhook`, `file`).
    pub sink_name: String,
    pub batch_size: u64,
}

/// One comparison of the source with the lake.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub source: String,
    pub lake: String,
    /// Every day with rows on either side.
    pub days: BTreeMap<i64, DayCounts>,
    pub lake_totals: LakeTotals,
    /// Differing follow-ups, up to [`IDS_KEPT`] of each kind, in id order.
    pub examples: Vec<Finding>,
}

impl Comparison {
    /// Every day matches and nothing in the lake is damaged.
    pub fn matches(&self) -> bool {
        self.differing().next().is_none() && self.lake_totals.damaged.is_empty()
    }

    /// The days that differ, oldest first.
    pub fn differing(&self) -> impl Iterator<Item = (i64, &DayCounts)> {
        self.days
            .iter()
            .filter(|(_, counts)| counts.differs())
            .map(|(day, counts)| (*day, counts))
    }

    /// The counts of every day added up.
    pub fn total(&self) -> DayCounts {
        self.days
            .values()
            .fold(DayCounts::default(), |mut all, day| {
                all.source += day.source;
                all.lake += day.lake;
                all.missing += day.missing;
                all.foreign += day.foreign;
                all.stale += day.stale;
                all
            })
    }

    /// The kept examples of `kind`.
    pub fn examples_of(&self, kind: Kind) -> impl Iterator<Item = &Finding> {
        self.examples.iter().filter(move |f| f.kind == kind)
    }
}

/// What a reconcile found and did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub range: Range,
    /// After a repair: the comparison before it, and what it delivered.
    pub repair: Option<(Comparison, Repaired)>,
    /// The comparison the exit code follows (after the repair, when there was one).
    pub comparison: Comparison,
}

impl Outcome {
    /// Every day matches and nothing in the lake is damaged.
    pub fn matches(&self) -> bool {
        self.comparison.matches()
    }
}

/// Compares the source with the lake; with a repair configured, moves damaged entries out,
/// delivers what is missing or stale, sends tombstones for what is foreign, and compares once
/// more.
pub async fn run(config: &ReconcileConfig) -> Result<Outcome, Error> {
    let reader = lake::LakeReader::open(&config.lake, &config.s3)?;
    let source = config.source.connect().await?;
    let mut differences = repair::Differences::default();
    let first = compare_once(config, &*source, &reader, &mut differences).await?;
    let Some(repair) = &config.repair else {
        return Ok(Outcome {
            range: config.range,
            repair: None,
            comparison: first,
        });
    };
    let mut repaired = Repaired {
        sink: repair.sink_name.clone(),
        ..Repaired::default()
    };
    if first.matches() {
        return Ok(Outcome {
            range: config.range,
            repair: Some((first.clone(), repaired)),
            comparison: first,
        });
    }
    // One sink for the whole repair: a file sink then holds every row it delivered.
    let mut sink = repair.sink.open()?;
    // Damaged entries leave the lake first, after the days of the rows read from them were
    // delivered again: a repair stopped in between loses nothing.
    if !first.lake_totals.damaged.is_empty() {
        let days: BTreeSet<i64> = first
            .lake_totals
            .damaged
            .iter()
            .flat_map(|d| d.days.iter().copied())
            .collect();
        let days: Vec<i64> = days.into_iter().collect();
        if !days.is_empty() {
            let whole_days = Range::default();
            let sent = repair::redeliver(
                &*source,
                &reader,
                &mut *sink,
                repair,
                &whole_days,
                &days,
                None,
            );
            repaired.merge(sent.await?);
        }
        let moved = quarantine::damaged(&reader, &first.lake_totals.damaged).await?;
        repaired.quarantine.merge(moved);
        differences = repair::Differences::default();
        compare_once(config, &*source, &reader, &mut differences).await?;
    }
    if !differences.is_empty() {
        let sent = repair::apply(
            &*source,
            &reader,
            &mut *sink,
            repair,
            &config.range,
            differences,
        );
        repaired.merge(sent.await?);
    }
    let now = compare_once(
        config,
        &*source,
        &reader,
        &mut repair::Differences::default(),
    )
    .await?;
    repair::finish(sink).await?;
    Ok(Outcome {
        range: config.range,
        repair: Some((first, repaired)),
        comparison: now,
    })
}

async fn compare_once(
    config: &ReconcileConfig,
    source: &dyn Source,
    reader: &lake::LakeReader,
    differences: &mut repair::Differences,
) -> Result<Comparison, Error> {
    let progress = if config.progress {
        Progress::start("reading the source")
    } else {
        Progress::hidden()
    };
    let source_copies = source_copies(source, &config.range, &progress).await;
    progress.finish();
    let source_copies = source_copies?;
    let progress = if config.progress {
        Progress::start("reading the lake")
    } else {
        Progress::hidden()
    };
    let mut lake_copies = content::Sorter::new();
    let totals = reader
        .read(&config.range, &mut lake_copies, &progress)
        .await;
    progress.finish();
    let totals = totals?;
    let mut examples = Vec::new();
    let mut kept: BTreeMap<Kind, usize> = BTreeMap::new();
    let days = content::join(source_copies.finish()?, lake_copies.finish()?, |finding| {
        let count = kept.entry(finding.kind).or_default();
        if *count < IDS_KEPT {
            *count += 1;
            examples.push(finding);
        }
        differences.add(&finding)
    })?;
    Ok(Comparison {
        source: source.describe(),
        lake: reader.describe().to_owned(),
        days,
        lake_totals: totals,
        examples,
    })
}

/// The source's rows in the range, each as the line the export writes now.
async fn source_copies(
    source: &dyn Source,
    range: &Range,
    progress: &Progress,
) -> Result<content::Sorter, Error> {
    // Batches as small as the export's default: a few of them wait in the reader's channel.
    let batching = crate::export::batch::Batching {
        size: 1_000,
        bucket_micros: i64::MAX,
    };
    let mut copies = content::Sorter::new();
    let mut batches = source.stream(range.query(None), batching);
    while let Some(batch) = batches.recv().await {
        let batch = batch.map_err(Error::from)?;
        for line in batch.json_array_items() {
            let copy = lake::line_copy(line, (0, 0))
                .map_err(|e| anyhow::anyhow!("a source row the lake reader cannot read: {e}"))?;
            if let Some(copy) = copy {
                copies.push(copy)?;
            }
        }
        progress.object(batch.rows);
    }
    Ok(copies)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn days_are_utc_and_named_by_their_date() {
        let at = Timestamp::parse("2026-01-02T23:59:59.999999Z").unwrap();
        assert_eq!(day_name(day_of(at.micros())), "2026-01-02");
        assert_eq!(day_name(day_of(at.micros() + 1)), "2026-01-03");
        assert_eq!(day_name(day_of(-1)), "1969-12-31");
    }

    #[test]
    fn a_day_query_is_the_part_of_the_day_inside_the_range() {
        let ts = |text: &str| Timestamp::parse(text).unwrap();
        let range = Range {
            since: Some(ts("2026-01-02T12:00:00Z")),
            until: None,
        };
        let day = day_of(ts("2026-01-02T00:00:00Z").micros());
        let query = range.query(Some(day));
        assert_eq!(query.after.unwrap().created_at, ts("2026-01-02T12:00:00Z"));
        assert_eq!(query.after.unwrap().id, None);
        assert_eq!(query.before, Some(ts("2026-01-03T00:00:00Z")));
        assert!(range.contains(ts("2026-01-02T12:00:00Z")));
        assert!(!range.contains(ts("2026-01-02T11:59:59Z")));
    }
}
