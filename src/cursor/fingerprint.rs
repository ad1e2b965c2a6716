//! The late-row audit's fingerprints. A timestamp cursor cannot see a row whose transaction commits after the
//! cursor has passed its `created_at`, nor a row edited after it was delivered. So each run
//! keeps, per time bucket of a trailing window, a fingerprint of what it delivered (a count, an
//! order-independent hash of ids, and the sum of the rows' change markers: PostgreSQL's `xmin`,
//! which every `UPDATE` renews, or a hash of the exported line where the source has no such
//! marker), and after the main export compares them with the source's fingerprints — one
//! aggregate query. A bucket that differs is delivered again whole (idempotency keys and the
//! warehouse MERGE absorb the rows already there), and its fingerprint is replaced by that of the
//! rows just sent.

use std::collections::BTreeMap;
use std::time::Duration;

use uuid::Uuid;

use super::Position;
use crate::time::Timestamp;

/// Audit settings. A zero window turns the audit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditConfig {
    pub window: Duration,
    pub bucket: Duration,
}

impl AuditConfig {
    pub fn enabled(&self) -> bool {
        !self.window.is_zero() && !self.bucket.is_zero()
    }

    pub fn bucket_micros(&self) -> i64 {
        i64::try_from(self.bucket.as_micros())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// The first bucket inside the window ending now.
    pub fn first_bucket(&self, now: Timestamp) -> i64 {
        let window = i64::try_from(self.window.as_micros()).unwrap_or(i64::MAX);
        bucket_of(
            Timestamp::from_micros(now.micros().saturating_sub(window)),
            self.bucket_micros(),
        )
    }
}

/// A count and order-independent hashes of a set of rows: the wrapping sum of each id's first
/// 64 bits, and the wrapping sum of each row's change marker. PostgreSQL computes the same in
/// one aggregate query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub count: u64,
    pub sum: u64,
    pub changes: u64,
}

impl Fingerprint {
    /// Adds a row: its id and its change marker.
    pub fn add(&mut self, id: &Uuid, change: u64) {
        let bytes = id.as_bytes();
        let head = u64::from_be_bytes(bytes[..8].try_into().expect("a uuid has 16 bytes"));
        self.count += 1;
        self.sum = self.sum.wrapping_add(head);
        self.changes = self.changes.wrapping_add(change);
    }

    pub fn merge(&mut self, other: Fingerprint) {
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
        self.changes = self.changes.wrapping_add(other.changes);
    }

    /// From PostgreSQL's `sum(…)::text` of the signed first 64 bits of the ids and of the
    /// change markers, decimals that may be negative or exceed 64 bits: reduced modulo 2^64,
    /// each equals the wrapping sum of the unsigned values.
    pub fn from_sql_sums(
        count: u64,
        sum_text: &str,
        changes_text: &str,
    ) -> Result<Fingerprint, SumError> {
        Ok(Fingerprint {
            count,
            sum: reduce(sum_text)?,
            changes: reduce(changes_text)?,
        })
    }
}

/// A decimal integer modulo 2^64.
fn reduce(text: &str) -> Result<u64, SumError> {
    let sum: i128 = text.trim().parse().map_err(|_| SumError(text.to_owned()))?;
    Ok(sum.rem_euclid(1i128 << 64) as u64)
}

/// A database's fingerprint sum that is not an integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an integer sum")]
pub struct SumError(String);

/// The bucket a timestamp falls in.
pub fn bucket_of(at: Timestamp, bucket_micros: i64) -> i64 {
    at.micros().div_euclid(bucket_micros)
}

/// The first instant of a bucket.
pub fn bucket_start(bucket: i64, bucket_micros: i64) -> Timestamp {
    Timestamp::from_micros(bucket.saturating_mul(bucket_micros))
}

/// What the cursor keeps for the audit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditState {
    /// Rows at or before this position were delivered before the audit began keeping
    /// fingerprints (a legacy cursor, or the first run): they are not audited.
    pub since: Option<Position>,
    pub bucket_seconds: u64,
    /// Fingerprints of the rows delivered, per bucket, within the window.
    pub buckets: BTreeMap<i64, Fingerprint>,
    /// Buckets recorded by a version without change markers: their `changes` is unknown until
    /// the next audit takes the source's (see [`AuditState::adopt_markers`]).
    pub unmarked: std::collections::BTreeSet<i64>,
}

impl AuditState {
    /// A state that starts auditing after `since`.
    pub fn starting_after(since: Option<Position>, config: &AuditConfig) -> AuditState {
        AuditState {
            since,
            bucket_seconds: config.bucket.as_secs(),
            buckets: BTreeMap::new(),
            unmarked: std::collections::BTreeSet::new(),
        }
    }

    /// For the buckets recorded without change markers (a cursor file of an earlier version):
    /// where the count and ids agree with the source, the source's markers are taken as they
    /// are, so the first run after an upgrade sends nothing again for them. An edit made
    /// before that run is not seen by the audit; `reconcile` finds it.
    pub fn adopt_markers(&mut self, source: &BTreeMap<i64, Fingerprint>) {
        for bucket in std::mem::take(&mut self.unmarked) {
            if let (Some(delivered), Some(found)) =
                (self.buckets.get_mut(&bucket), source.get(&bucket))
                && (delivered.count, delivered.sum) == (found.count, found.sum)
            {
                delivered.changes = found.changes;
            }
        }
    }

    /// Drops buckets that left the window.
    pub fn prune(&mut self, first_bucket: i64) {
        self.buckets = self.buckets.split_off(&first_bucket);
    }

    pub fn record(&mut self, delta: &BTreeMap<i64, Fingerprint>) {
        for (bucket, fingerprint) in delta {
            self.buckets.entry(*bucket).or_default().merge(*fingerprint);
        }
    }
}

/// How the source and the delivered fingerprints of one bucket differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    pub bucket: i64,
    pub delivered: Fingerprint,
    pub source: Fingerprint,
}

impl Difference {
    /// Rows in the source that were not counted as delivered (at least).
    pub fn late_rows(&self) -> u64 {
        self.source.count.saturating_sub(self.delivered.count)
    }

    /// Rows delivered that are no longer in the source (at least).
    pub fn missing_rows(&self) -> u64 {
        self.delivered.count.saturating_sub(self.source.count)
    }
}

/// The buckets whose fingerprints differ, oldest first.
pub fn compare(
    delivered: &BTreeMap<i64, Fingerprint>,
    source: &BTreeMap<i64, Fingerprint>,
) -> Vec<Difference> {
    let mut buckets: Vec<i64> = delivered.keys().chain(source.keys()).copied().collect();
    buckets.sort_unstable();
    buckets.dedup();
    buckets
        .into_iter()
        .filter_map(|bucket| {
            let delivered = delivered.get(&bucket).copied().unwrap_or_default();
            let source = source.get(&bucket).copied().unwrap_or_default();
            (delivered != source).then_some(Difference {
                bucket,
                delivered,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n << 64 | 7)
    }

    #[test]
    fn a_fingerprint_does_not_depend_on_order() {
        let (mut a, mut b) = (Fingerprint::default(), Fingerprint::default());
        for n in [1, 2, 3] {
            a.add(&id(n), n as u64);
        }
        for n in [3, 1, 2] {
            b.add(&id(n), n as u64);
        }
        assert_eq!(a, b);
        b.add(&id(4), 4);
        assert_ne!(a, b);
        // The same rows, one of them changed: only the marker moves.
        let mut c = Fingerprint::default();
        for (n, change) in [(1, 1), (2, 99), (3, 3)] {
            c.add(&id(n), change);
        }
        assert_eq!((c.count, c.sum), (a.count, a.sum));
        assert_ne!(c, a);
    }

    #[test]
    fn postgres_signed_sums_reduce_to_the_same_fingerprint() {
        let mut fingerprint = Fingerprint::default();
        let ids = [id(u64::MAX as u128), id(1u128 << 63), id(5)];
        for id in &ids {
            fingerprint.add(id, 7);
        }
        // What PostgreSQL sums: the first 64 bits read as a signed bigint.
        let signed: i128 = ids
            .iter()
            .map(|id| i128::from(id.as_u64_pair().0 as i64))
            .sum();
        assert_eq!(
            Fingerprint::from_sql_sums(3, &signed.to_string(), "21").unwrap(),
            fingerprint
        );
    }

    #[test]
    fn differences_count_late_and_missing_rows() {
        let mut delivered = BTreeMap::new();
        let mut source = BTreeMap::new();
        let one = Fingerprint {
            count: 1,
            sum: 10,
            changes: 0,
        };
        delivered.insert(1, one);
        source.insert(1, one);
        source.insert(
            2,
            Fingerprint {
                count: 2,
                sum: 5,
                changes: 0,
            },
        );
        delivered.insert(
            3,
            Fingerprint {
                count: 3,
                sum: 9,
                changes: 0,
            },
        );
        source.insert(
            3,
            Fingerprint {
                count: 2,
                sum: 4,
                changes: 0,
            },
        );
        let differences = compare(&delivered, &source);
        assert_eq!(
            differences.iter().map(|d| d.bucket).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(
            (differences[0].late_rows(), differences[0].missing_rows()),
            (2, 0)
        );
        assert_eq!(
            (differences[1].late_rows(), differences[1].missing_rows()),
            (0, 1)
        );
    }

    #[test]
    fn buckets_outside_the_window_are_pruned() {
        let config = AuditConfig {
            window: Duration::from_secs(3600),
            bucket: Duration::from_secs(60),
        };
        let now = Timestamp::parse("2026-01-22T04:00:00Z").unwrap();
        let first = config.first_bucket(now);
        assert_eq!(
            bucket_start(first, config.bucket_micros()).to_string(),
            "2026-01-22T03:00:00.000000Z"
        );
        let mut state = AuditState::default();
        state.buckets.insert(first - 1, Fingerprint::default());
        state.buckets.insert(first, Fingerprint::default());
        state.prune(first);
        assert_eq!(state.buckets.keys().copied().collect::<Vec<_>>(), [first]);
    }
}
