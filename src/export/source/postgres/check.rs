//! What `check` asks of PostgreSQL: the table readable, the `(created_at, id)` index, and
//! whether this role sees other sessions' open transactions.

use tokio_postgres::types::Type;

use super::PostgresSource;
use crate::export::source::TABLE;
use crate::row::schema;
use crate::verdict::{Check, Verdict};

impl PostgresSource {
    /// Reads one row, to prove the table exists and the role may read it; returns the
    /// planner's estimate of the table's rows.
    async fn probe(&self) -> anyhow::Result<u64> {
        let sql = format!("SELECT 1 FROM {TABLE} LIMIT 1");
        self.wait("reading one row", self.client.query_typed(&sql, &[]))
            .await?;
        let row = self
            .wait(
                "reading the table's size",
                self.client.query_typed_one(
                    "SELECT greatest(reltuples, 0)::int8 FROM pg_class WHERE oid = $1::text::regclass",
                    &[(&TABLE, Type::TEXT)],
                ),
            )
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Whether this role sees other roles' transactions in `pg_stat_activity` (superuser or
    /// member of `pg_read_all_stats`), which the hold-back before open transactions needs.
    /// Whether the role sees every session, and its name (for the GRANT that would let it).
    async fn sees_all_sessions(&self) -> anyhow::Result<(bool, String)> {
        let row = self
            .wait(
                "reading the role's privileges",
                self.client.query_typed_one(
                    "SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'member'), \
                     quote_ident(current_user) FROM pg_roles WHERE rolname = current_user",
                    &[],
                ),
            )
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// The definitions of the table's indexes whose first column is `created_at`.
    async fn created_at_indexes(&self) -> anyhow::Result<Vec<String>> {
        let rows = self
            .wait(
                "reading the table's indexes",
                self.client.query_typed(
                    "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                     WHERE i.indrelid = $1::text::regclass AND a.attname = 'created_at' AND i.indisvalid",
                    &[(&TABLE, Type::TEXT)],
                ),
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
    /// `check`: the table readable, the `(created_at, id)` index, what the role sees.
    pub(super) async fn checks(&self) -> Vec<Check> {
        let error = |e: anyhow::Error| Verdict::from_error(&e.into(), "see the problem above");
        let rows = match self.probe().await {
            Ok(rows) => rows,
            Err(e) => return vec![("database", error(e))],
        };
        let mut checks = vec![(
            "database",
            Verdict::Ok(format!(
                "{}: {TABLE} readable (~{rows} rows)",
                self.description
            )),
        )];
        let index = match self.created_at_indexes().await {
            Ok(indexes) if indexes.iter().any(|d| d.contains("(created_at, id)")) => {
                Verdict::Ok(format!("{TABLE} (created_at, id) is indexed"))
            }
            // Harmless on a small table, costly on a large one: a note, a problem with --strict.
            Ok(indexes) => Verdict::Note {
                note: if indexes.is_empty() {
                    format!(
                        "{TABLE} has no index on (created_at, id): every run scans and sorts the \
                         table, which grows costly as it does"
                    )
                } else {
                    format!("{TABLE} has an index on created_at but not on (created_at, id)")
                },
                how: schema::CREATED_AT_INDEX.into(),
            },
            Err(e) => error(e),
        };
        checks.push(("index", index));
        let hold_back = match self.sees_all_sessions().await {
            Ok((true, _)) => Verdict::Ok(
                "pg_stat_activity shows every session: runs stop before open transactions".into(),
            ),
            Ok((false, role)) => Verdict::Note {
                note: "this role sees only its own sessions in pg_stat_activity: runs cannot stop \
                       before other roles' open transactions (the late-row audit still delivers \
                       their rows afterwards)"
                    .into(),
                how: format!("GRANT pg_read_all_stats TO {role};"),
            },
            Err(e) => error(e),
        };
        checks.push(("hold-back", hold_back));
        checks
    }
}
