//! What is left after the cursor, counted on PostgreSQL in one statement.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::{Params, PostgresSource, bind, open_transactions, param_refs};
use crate::export::source::filter;
use crate::export::source::{Backlog, HeldBack, Query, TABLE};
use crate::time::Timestamp;

impl PostgresSource {
    /// One aggregate over the rows after the cursor, with the settle window's bound and the
    /// oldest open transaction (as the export's own hold-back sees it) beside it.
    pub(super) async fn backlog_after(&self, query: &Query) -> anyhow::Result<Backlog> {
        let mut params: Params = vec![(Box::new(query.settle.as_secs_f64()), Type::FLOAT8)];
        let open = match query.hold_back {
            Some(hold_back) => {
                params.push((Box::new(hold_back.as_secs_f64()), Type::FLOAT8));
                format!(
                    "SELECT pid, xact_start {} ORDER BY xact_start LIMIT 1",
                    open_transactions("$2")
                )
            }
            None => {
                "SELECT NULL::integer AS pid, NULL::timestamptz AS xact_start WHERE false".into()
            }
        };
        let conditions = filter::conditions(
            &Query {
                after: query.after,
                provider_id: query.provider_id.clone(),
                ..Query::default()
            },
            |param| bind(&mut params, param),
        );
        let sql = format!(
            "WITH open AS ({open}), bound AS (SELECT now() - make_interval(secs => $1) AS settled) \
             SELECT count(*), min(created_at), \
             count(*) FILTER (WHERE created_at > (SELECT settled FROM bound) \
             OR created_at >= (SELECT xact_start FROM open)), \
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
