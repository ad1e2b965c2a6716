//! `reconcile`: prove that the lake holds the source. Per UTC day of `created_at`, the source's
//! count and order-independent id hash (one aggregate query,
//! [`crate::export::source::fingerprints_by_day`]) are compared with the lake's, counted over
//! distinct `(day, followUpId)` pairs in one streaming pass ([`lake`], [`distinct`]). The hash
//! is the audit's [`Fingerprint`]: the wrapping sum of each id's first 64 bits, which
//! PostgreSQL computes in the same query. With a repair, the objects holding foreign rows are
//! moved out of the lake ([`quarantine`]), the differing days are delivered again through the
//! sink ([`repair`]) and the lake is compared once more; the export's cursor is not touched.

mod distinct;
mod lake;
mod progress;
mod quarantine;
mod repair;
pub mod report;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use crate::cursor::fingerprint::{Difference, compare};
use crate::cursor::{Fingerprint, Position};
use crate::error::Error;
use crate::export::sink::SinkConfig;
use crate::export::source::{self, Query, Source, SourceConfig};
use crate::lake_layout::LakeUri;
use crate::s3::S3Options;
use crate::time::Timestamp;

pub use crate::lake_layout::{QUARANTINE_PREFIX, quarantine_key};
pub use distinct::DistinctDays;
pub use lake::{Damaged, LakeTotals};
use progress::Progress;
pub use quarantine::{FOREIGN_IDS_KEPT, Quarantine};
pub use repair::Repaired;

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
    /// Days with rows on either side.
    pub days: u64,
    pub source_rows: u64,
    /// Distinct follow-ups in the lake.
    pub lake_rows: u64,
    pub lake_totals: LakeTotals,
    /// The days whose fingerprints differ, oldest first.
    pub differing: Vec<DayDifference>,
}

/// How one day differs. `lake` counts distinct follow-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayDifference {
    pub day: i64,
    pub source: Fingerprint,
    pub lake: Fingerprint,
}

/// What a day's counts and hashes say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Fewer follow-ups in the lake: at least this many are missing there.
    Missing(u64),
    /// More in the lake: at least this many are not in the source (foreign rows).
    Foreign(u64),
    /// As many, but other ids: some are missing and as many are foreign.
    Mixed,
}

impl DayDifference {
    pub fn kind(&self) -> Kind {
        match self.lake.count.cmp(&self.source.count) {
            std::cmp::Ordering::Less => Kind::Missing(self.source.count - self.lake.count),
            std::cmp::Ordering::Greater => Kind::Foreign(self.lake.count - self.source.count),
            std::cmp::Ordering::Equal => Kind::Mixed,
        }
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

impl Comparison {
    pub fn matches(&self) -> bool {
        self.differing.is_empty() && self.lake_totals.damaged.is_empty()
    }
}

/// Compares the source with the lake; with a repair configured, delivers the differing days
/// again and compares once more.
pub async fn run(config: &ReconcileConfig) -> Result<Outcome, Error> {
    let reader = lake::LakeReader::open(&config.lake, &config.s3)?;
    let source = config.source.connect().await?;
    let first = compare_once(config, &*source, &reader).await?;
    let Some(repair) = &config.repair else {
        return Ok(Outcome {
            range: config.range,
            repair: None,
            comparison: first,
        });
    };
    if first.matches() {
        return Ok(Outcome {
            range: config.range,
            repair: Some((first.clone(), Repaired::default())),
            comparison: first,
        });
    }
    let mut repaired = Repaired {
        sink: repair.sink_name.clone(),
        ..Repaired::default()
    };
    // One sink for the whole repair: a file sink then holds every row it delivered.
    let mut sink = repair.sink.open()?;
    let whole_days = Range::default();
    let mut now = first.clone();
    // Damaged entries leave the lake first, after the days of the rows read from them were
    // delivered again: a repair stopped in between loses nothing.
    if !now.lake_totals.damaged.is_empty() {
        let days: BTreeSet<i64> = now
            .lake_totals
            .damaged
            .iter()
            .flat_map(|d| d.days.iter().copied())
            .collect();
        let days: Vec<i64> = days.into_iter().collect();
        if !days.is_empty() {
            let sent = repair::redeliver(&*source, &mut *sink, repair, &whole_days, &days);
            repaired.merge(sent.await?);
        }
        let moved = quarantine::damaged(&reader, &now.lake_totals.damaged).await?;
        repaired.quarantine.merge(moved);
        now = compare_once(config, &*source, &reader).await?;
    }
    // Round one moves the objects of the days that hold more or other ids than the source;
    // after its delivery the lake holds every source row of the differing days, so whatever
    // still differs is foreign too (a day that lacked rows and also held others), and round
    // two moves those. Every day of a found object's rows is delivered before it moves.
    for round in 0..2 {
        let foreign_days: Vec<i64> = now
            .differing
            .iter()
            .filter(|d| round > 0 || !matches!(d.kind(), Kind::Missing(_)))
            .map(|d| d.day)
            .collect();
        let found = quarantine::find(&*source, &reader, &config.range, &foreign_days).await?;
        if round > 0 && found.objects.is_empty() {
            break;
        }
        if !found.days.is_empty() {
            let days: Vec<i64> = found.days.iter().copied().collect();
            let sent = repair::redeliver(&*source, &mut *sink, repair, &whole_days, &days);
            repaired.merge(sent.await?);
        }
        let moved = quarantine::move_found(&reader, found).await?;
        if !moved.objects.is_empty() {
            now = compare_once(config, &*source, &reader).await?;
        }
        repaired.quarantine.merge(moved);
        let days: Vec<i64> = now.differing.iter().map(|d| d.day).collect();
        if !days.is_empty() {
            let sent = repair::redeliver(&*source, &mut *sink, repair, &config.range, &days);
            repaired.merge(sent.await?);
        }
        now = compare_once(config, &*source, &reader).await?;
        if now.matches() {
            break;
        }
    }
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
) -> Result<Comparison, Error> {
    let source_days = source::fingerprints_by_day(source, &config.range.query(None)).await?;
    let progress = if config.progress {
        Progress::start("reading the lake")
    } else {
        Progress::hidden()
    };
    let mut distinct = DistinctDays::new();
    let totals = reader.read(&config.range, &mut distinct, &progress).await;
    progress.finish();
    let totals = totals?;
    let lake_days = distinct.finish()?;
    Ok(comparison(
        source.describe(),
        reader.describe().to_owned(),
        &source_days,
        &lake_days,
        totals,
    ))
}

/// The comparison of per-day fingerprints.
pub fn comparison(
    source: String,
    lake: String,
    source_days: &BTreeMap<i64, Fingerprint>,
    lake_days: &BTreeMap<i64, Fingerprint>,
    lake_totals: LakeTotals,
) -> Comparison {
    let mut days: Vec<i64> = source_days
        .keys()
        .chain(lake_days.keys())
        .copied()
        .collect();
    days.sort_unstable();
    days.dedup();
    Comparison {
        source,
        lake,
        days: days.len() as u64,
        source_rows: source_days.values().map(|f| f.count).sum(),
        lake_rows: lake_days.values().map(|f| f.count).sum(),
        lake_totals,
        differing: compare(lake_days, source_days)
            .into_iter()
            .map(
                |Difference {
                     bucket,
                     delivered,
                     source,
                 }| DayDifference {
                    day: bucket,
                    source,
                    lake: delivered,
                },
            )
            .collect(),
    }
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

    #[test]
    fn a_day_differs_by_missing_foreign_or_mixed_rows() {
        let f = |count, sum| Fingerprint { count, sum };
        let source = BTreeMap::from([(1, f(3, 6)), (2, f(2, 5)), (3, f(1, 1)), (4, f(2, 2))]);
        let lake = BTreeMap::from([(1, f(3, 6)), (2, f(1, 2)), (3, f(2, 9)), (4, f(2, 3))]);
        let found = comparison(
            "db".into(),
            "lake".into(),
            &source,
            &lake,
            LakeTotals::default(),
        );
        let kinds: Vec<_> = found.differing.iter().map(|d| (d.day, d.kind())).collect();
        assert_eq!(
            kinds,
            [
                (2, Kind::Missing(1)),
                (3, Kind::Foreign(1)),
                (4, Kind::Mixed)
            ]
        );
        assert_eq!((found.days, found.source_rows, found.lake_rows), (4, 8, 8));
    }
}
