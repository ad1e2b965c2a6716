//! The exported row: its JSON shape and how a source row becomes one ([`context`] normalises
//! its `platformContext`; [`schema`] names its columns). Everything here is a pure function of
//! the source values.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::time::Timestamp;

pub mod context;
pub mod schema;
pub mod snowflake;

pub use context::{ContextOutcome, PlatformContext, normalize_platform_context};

/// Actions the application writes. Others are exported as they are and counted in a warning.
pub const KNOWN_ACTIONS: [&str; 3] = ["pause", "resume", "escalate"];

/// One follow-up as it is exported: one NDJSON line, keys in exactly this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FollowUp {
    pub follow_up_id: Uuid,
    pub provider_id: String,
    pub provider_name: Option<String>,
    pub action: String,
    pub notes: Option<String>,
    pub platform_context: Option<PlatformContext>,
    pub conversion_cursor: Option<String>,
    pub conversion_href: Option<String>,
    pub created_at: Timestamp,
}

/// A row as read from the source, before normalisation.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub id: Uuid,
    pub provider_id: String,
    pub provider_name: Option<String>,
    pub action: String,
    pub notes: Option<String>,
    /// The `platform_context` column as JSON text; `None` for SQL NULL.
    pub platform_context: Option<String>,
    pub conversion_cursor: Option<String>,
    pub conversion_href: Option<String>,
    pub created_at: Timestamp,
}

impl SourceRow {
    /// A row with its required columns and every optional one NULL: what tests and examples
    /// start from (`SourceRow { notes: …, ..SourceRow::new(…) }`), so a new nullable column
    /// changes no caller.
    pub fn new(
        id: Uuid,
        provider_id: impl Into<String>,
        action: impl Into<String>,
        created_at: Timestamp,
    ) -> SourceRow {
        SourceRow {
            id,
            provider_id: provider_id.into(),
            provider_name: None,
            action: action.into(),
            notes: None,
            platform_context: None,
            conversion_cursor: None,
            conversion_href: None,
            created_at,
        }
    }
}

/// What normalising one row had to do; summed into the run's warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowRepairs {
    /// The context was usable but not canonical (variant keys, padding, extra keys…).
    pub context_repaired: bool,
    /// A non-null context carried nothing usable and was exported as null.
    pub context_nulled: bool,
    /// The action is not one of pause/resume/escalate.
    pub unknown_action: bool,
}

impl FollowUp {
    /// The row exported from [`SourceRow::new`]: its required fields, every optional one null.
    pub fn new(
        follow_up_id: Uuid,
        provider_id: impl Into<String>,
        action: impl Into<String>,
        created_at: Timestamp,
    ) -> FollowUp {
        FollowUp::from_source(SourceRow::new(
            follow_up_id,
            provider_id,
            action,
            created_at,
        ))
        .0
    }

    /// The row contract the gateway enforces, which every row [`FollowUp::from_source`] makes
    /// satisfies (a property test holds the two together): `action` trimmed and lowercase
    /// (blank allowed), `platformContext` strings trimmed and non-empty. `providerId` and the
    /// free-text fields may hold anything the source holds, blank included.
    pub fn check_canonical(&self) -> Result<(), String> {
        if self.action != normalize_action(&self.action) {
            return Err(format!(
                "`action` `{}` is not trimmed and lowercase",
                self.action
            ));
        }
        if let Some(context) = &self.platform_context {
            for (key, value) in context.fields() {
                if let Some(text) = value
                    && (text.is_empty() || text.trim() != text)
                {
                    return Err(format!(
                        "`platformContext.{key}` {text:?} is not a trimmed non-empty string or null"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Builds the exported row from a source row. Never fails: a row is never dropped for its
    /// context; what had to be repaired is reported in the returned [`RowRepairs`].
    pub fn from_source(row: SourceRow) -> (FollowUp, RowRepairs) {
        let action = normalize_action(&row.action);
        let unknown_action = !KNOWN_ACTIONS.contains(&action.as_str());
        let (platform_context, outcome) = match row.platform_context.as_deref() {
            None => (None, ContextOutcome::Absent),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(value) => normalize_platform_context(&value),
                Err(_) => (None, ContextOutcome::Nulled),
            },
        };
        let repairs = RowRepairs {
            context_repaired: outcome == ContextOutcome::Repaired,
            context_nulled: outcome == ContextOutcome::Nulled,
            unknown_action,
        };
        let follow_up = FollowUp {
            follow_up_id: row.id,
            provider_id: row.provider_id,
            provider_name: row.provider_name,
            action,
            notes: row.notes,
            platform_context,
            conversion_cursor: row.conversion_cursor,
            conversion_href: row.conversion_href,
            created_at: row.created_at,
        };
        (follow_up, repairs)
    }
}

/// A follow-up deleted from the source, on its way to the warehouse: one NDJSON line beside the
/// rows, `{"followUpId":…,"createdAt":…,"deletedAt":…}` and no other key. `createdAt` is the
/// deleted row's (it dates the lake object and the reconcile's day); `deletedAt` is when the
/// deletion was found. The warehouse MERGE removes the follow-up when its newest copy is a
/// tombstone (`warehouse/snowflake/05_merge.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tombstone {
    pub follow_up_id: Uuid,
    pub created_at: Timestamp,
    pub deleted_at: Timestamp,
}

impl Tombstone {
    /// The JSON key only a tombstone has.
    pub const KEY: &str = "deletedAt";
    /// Its keys, in the order they are written.
    pub const KEYS: [&str; 3] = ["followUpId", "createdAt", "deletedAt"];
}

/// A 64-bit hash of an exported line: the change marker of a source without one of its own
/// (see [`crate::cursor::fingerprint`]), and what `reconcile` compares. Stable within a
/// version; nothing stores it across versions but the audit's sums, which the next audit
/// compares with the same function.
pub fn line_hash(line: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(line)
}

/// Trims and lowercases an action.
pub fn normalize_action(action: &str) -> String {
    action.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_with_unparseable_context_text_is_kept_with_a_null_context() {
        let (row, repairs) = FollowUp::from_source(source_row(Some("{not json"), " Pause "));
        assert_eq!(row.platform_context, None);
        assert_eq!(row.action, "pause");
        assert!(repairs.context_nulled && !repairs.unknown_action);
    }

    #[test]
    fn an_unknown_action_is_exported_as_it_is_and_reported() {
        let (row, repairs) = FollowUp::from_source(source_row(None, "Suspend"));
        assert_eq!(row.action, "suspend");
        assert!(repairs.unknown_action);
        assert!(!repairs.context_nulled && !repairs.context_repaired);
    }

    #[test]
    fn the_row_serialises_with_the_nine_keys_in_order() {
        let (row, _) =
            FollowUp::from_source(source_row(Some(r#"{"id":"a","label":"A"}"#), "resume"));
        let line = serde_json::to_string(&row).unwrap();
        assert_eq!(
            line,
            r#"{"followUpId":"0b6f5a2e-6d1c-4a53-9a5e-2f0c8d1e7b11","providerId":"provider-123","providerName":null,"action":"resume","notes":"n","platformContext":{"id":"a","label":"A","handle":null,"platformType":null},"conversionCursor":null,"conversionHref":null,"createdAt":"2026-01-22T04:00:00.000000Z"}"#
        );
        let back: FollowUp = serde_json::from_str(&line).unwrap();
        assert_eq!(back, row);
    }

    fn source_row(context: Option<&str>, action: &str) -> SourceRow {
        SourceRow {
            notes: Some("n".into()),
            platform_context: context.map(str::to_owned),
            ..SourceRow::new(
                "0B6F5A2E-6D1C-4A53-9A5E-2F0C8D1E7B11".parse().unwrap(),
                "provider-123",
                action,
                Timestamp::parse("2026-01-22T04:00:00Z").unwrap(),
            )
        }
    }
}
