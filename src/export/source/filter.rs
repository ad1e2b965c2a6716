//! The conditions on position and provider that every source's `WHERE` shares, written once
//! with the placeholders and parameter types of the database at hand.

use std::fmt::Write as _;

use uuid::Uuid;

use super::Query;
use crate::time::Timestamp;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Time(Timestamp),
    Id(Uuid),
    Text(String),
}

/// ` AND …` for the query's `after`, `until`, `before` and `provider_id`; `bind` records each
/// parameter and returns its placeholder (`$3`, `?`).
pub fn conditions(query: &Query, mut bind: impl FnMut(Param) -> String) -> String {
    let mut sql = String::new();
    if let Some(after) = query.after {
        let at = bind(Param::Time(after.created_at));
        match after.id {
            Some(id) => {
                let id = bind(Param::Id(id));
                let _ = write!(sql, " AND (created_at, id) > ({at}, {id})");
            }
            None => {
                let _ = write!(sql, " AND created_at >= {at}");
            }
        }
    }
    if let Some(until) = query.until {
        let at = bind(Param::Time(until.created_at));
        match until.id {
            Some(id) => {
                let id = bind(Param::Id(id));
                let _ = write!(sql, " AND (created_at, id) <= ({at}, {id})");
            }
            None => {
                let _ = write!(sql, " AND created_at <= {at}");
            }
        }
    }
    if let Some(before) = query.before {
        let at = bind(Param::Time(before));
        let _ = write!(sql, " AND created_at < {at}");
    }
    if let Some(provider) = &query.provider_id {
        let provider = bind(Param::Text(provider.clone()));
        let _ = write!(sql, " AND provider_id = {provider}");
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Position;

    #[test]
    fn every_bound_of_a_query_becomes_a_condition_with_its_parameter() {
        let at = Timestamp::parse("2026-01-22T04:00:00Z").unwrap();
        let query = Query {
            after: Some(Position {
                created_at: at,
                id: Some(Uuid::nil()),
            }),
            until: Some(Position {
                created_at: at,
                id: None,
            }),
            before: Some(at),
            provider_id: Some("p".into()),
            ..Query::default()
        };
        let mut params = Vec::new();
        let sql = conditions(&query, |p| {
            params.push(p);
            format!("${}", params.len())
        });
        assert_eq!(
            sql,
            " AND (created_at, id) > ($1, $2) AND created_at <= $3 AND created_at < $4 \
             AND provider_id = $5"
        );
        assert_eq!(params.len(), 5);
        assert_eq!(params[4], Param::Text("p".into()));
    }
}
