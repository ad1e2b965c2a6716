//! What is left after the cursor, counted on PostgreSQL in one statement, alone or with the
//! late-row audit's fingerprints in the same scan.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::{Params, PostgresSource, bind, open_transactions, param_refs};
use crate::cursor::Fingerprint;
use crate::export::source::filter;
use crate::export::source::{Backlog, HeldBack, Query, TABLE};
use crate::time::Timestamp;

/// The CTEs both statements start with: the oldest open transaction the hold-back sees
/// (`open`), and the settle window's bound (`bound`); `$1` is the settle window.
fn bounds(query: &Query, params: &mut Params) -> String {
    let open = match query.hold_back {
        Some(hold_back) => {
            params.push((Box::new(hold_back.as_secs_f64()), Type::FLOAT8));
            format!(
                "SELECT pid, xact_start {} ORDER BY xact_start LIMIT 1",
                open_transactions(&format!("${}", params.len()))
            )
        }
        None => "SELECT NULL::integer AS pid, NULL::timestamptz AS xact_start WHERE false".into(),
    };
    format!("WITH open AS ({open}), bound AS (SELECT now() - make_interval(secs => $1) AS settled)")
}

/// Rows after `query.after` of its provider: the backlog's selection.
fn after_cursor(query: &Query, params: &mut Params) -> String {
    filter::conditions(
        &Query {
            after: query.after,
            provider_id: query.provider_id.clone(),
            ..Query::default()
        },
        |param| bind(params, param),
    )
}

/// The held-back condition of a backlog row.
const HELD: &str =
    "created_at > (SELECT settled FROM bound) OR created_at >= (SELECT xact_start FROM open)";

impl PostgresSource {
    /// The audit's fingerprints (as [`PostgresSource::fingerprints_by_bucket`] computes them)
    /// and the backlog (as [`PostgresSource::backlog_after`]) in one scan: each row is marked
    /// as in the audit's window, after the cursor, or both, and one grouped aggregate sums
    /// each side with `FILTER`.
    pub(super) async fn audit_and_backlog_at_once(
        &self,
        audit: &Query,
        bucket_seconds: u64,
        backlog: &Query,
    ) -> anyhow::Result<(BTreeMap<i64, Fingerprint>, Backlog)> {
        let mut params: Params = vec![(Box::new(backlog.settle.as_secs_f64()), Type::FLOAT8)];
        let with = bounds(backlog, &mut params);
        let in_backlog = format!("true{}", after_cursor(backlog, &mut params));
        params.push((Box::new(audit.settle.as_secs_f64()), Type::FLOAT8));
        let in_audit = format!(
            "created_at <= now() - make_interval(secs => ${}){}",
            params.len(),
            filter::conditions(audit, |param| bind(&mut params, param))
        );
        params.push((
            Box::new(i64::try_from(bucket_seconds.max(1)).unwrap_or(i64::MAX)),
            Type::INT8,
        ));
        let bucket = params.len();
        let sql = format!(
            "{with}, marked AS (SELECT created_at, id, xmin, ({in_audit}) AS audited, \
             ({in_backlog}) AS pending FROM {TABLE} WHERE ({in_audit}) OR ({in_backlog})) \
             SELECT floor(extract(epoch FROM date_trunc('second', created_at)) / ${bucket}::bigint)::bigint, \
             count(*) FILTER (WHERE audited), \
             (sum(('x' || left(replace(id::text, '-', ''), 16))::bit(64)::bigint) FILTER (WHERE audited))::text, \
             (sum(xmin::text::bigint) FILTER (WHERE audited))::text, \
             count(*) FILTER (WHERE pending), min(created_at) FILTER (WHERE pending), \
             count(*) FILTER (WHERE pending AND ({HELD})), \
             (SELECT settled FROM bound), (SELECT xact_start FROM open), (SELECT pid FROM open) \
             FROM marked GROUP BY 1"
        );
        let rows = self
            .wait(
                "auditing delivered rows and counting the rows after the cursor",
                self.client.query_typed(&sql, &param_refs(&params)),
            )
            .await?;
        let mut fingerprints = BTreeMap::new();
        let mut backlog = Backlog {
            pending: 0,
            oldest: None,
            held_back: None,
        };
        let mut held = 0;
        let mut holds = None;
        for row in &rows {
            let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
            let at = |i: usize| -> anyhow::Result<Option<Timestamp>> {
                Ok(row
                    .try_get::<_, Option<DateTime<Utc>>>(i)?
                    .map(|at| Timestamp::from_micros(at.timestamp_micros())))
            };
            let audited = count(1);
            if audited > 0 {
                let sum: Option<String> = row.get(2);
                let changes: Option<String> = row.get(3);
                let fingerprint = Fingerprint::from_sql_sums(
                    audited,
                    sum.as_deref().unwrap_or("0"),
                    changes.as_deref().unwrap_or("0"),
                )?;
                fingerprints.insert(row.get::<_, i64>(0), fingerprint);
            }
            backlog.pending += count(4);
            if let Some(oldest) = at(5)? {
                backlog.oldest = Some(backlog.oldest.map_or(oldest, |o: Timestamp| o.min(oldest)));
            }
            held += count(6);
            let settled = at(7)?.unwrap_or_else(Timestamp::now);
            holds = Some((settled, at(8)?.zip(row.try_get::<_, Option<i32>>(9)?)));
        }
        if let Some((settled, open)) = holds {
            backlog.held_back = HeldBack::of(held, settled, open);
        }
        Ok((fingerprints, backlog))
    }

    /// One aggregate over the rows after the cursor, with the settle window's bound and the
    /// oldest open transaction (as the export's own hold-back sees it) beside it.
    pub(super) async fn backlog_after(&self, query: &Query) -> anyhow::Result<Backlog> {
        let mut params: Params = vec![(Box::new(query.settle.as_secs_f64()), Type::FLOAT8)];
        let with = bounds(query, &mut params);
        let conditions = after_cursor(query, &mut params);
        let sql = format!(
            "{with} SELECT count(*), min(created_at), count(*) FILTER (WHERE {HELD}), \
             (SELECT settled FROM bound), (SELECT xact_start FROM open), (SELECT pid FROM open) \
             FROM {TABLE} WHERE true{conditions}"
        );
        let row = self
            .wait(
                "counting the rows after the cursor",
                self.client.query_typed_one(&sql, &param_refs(&params)),
            )
            .await?;
        let at = |i: usize| -> anyhow::Result<Option<Timestamp>> {
            Ok(row
                .try_get::<_, Option<DateTime<Utc>>>(i)?
                .map(|at| Timestamp::from_micros(at.timestamp_micros())))
        };
        let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        let settled = at(3)?.unwrap_or_else(Timestamp::now);
        let open = at(4)?.zip(row.try_get::<_, Option<i32>>(5)?);
        Ok(Backlog {
            pending: count(0),
            oldest: at(1)?,
            held_back: HeldBack::of(count(2), settled, open),
        })
    }
}
