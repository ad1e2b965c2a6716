//! The `platformContext` of an exported row: its canonical shape and the normalisation of
//! whatever the application stored in `platform_context` into it. Pure functions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::row::schema;

/// The canonical platform context: exactly these four keys, each a trimmed non-empty string or null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformContext {
    pub id: Option<String>,
    pub label: Option<String>,
    pub handle: Option<String>,
    pub platform_type: Option<String>,
}

impl PlatformContext {
    /// Each field with its JSON key, in [`schema::CONTEXT_KEYS`] order.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 4] {
        let [id, label, handle, platform_type] = schema::CONTEXT_KEYS;
        [
            (id, &self.id),
            (label, &self.label),
            (handle, &self.handle),
            (platform_type, &self.platform_type),
        ]
    }
}

/// How a `platform_context` value was turned into the exported one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextOutcome {
    /// JSON null (or SQL NULL): exported as null, nothing to report.
    Absent,
    /// Already canonical: only canonical keys, trimmed non-empty strings or nulls.
    Canonical,
    /// Usable after mapping variant keys, trimming, dropping unknown keys or decoding.
    Repaired,
    /// Not null, but not an object with an id or a label: exported as null.
    Nulled,
}

/// Canonical field of the context a (normalised) key maps to, in order of preference.
/// Keys are compared lowercased with `_`, `-` and spaces removed, so `platform_type`,
/// `platformType` and `Platform-Type` are one key.
const KEY_ALIASES: [(&str, Field); 14] = [
    ("id", Field::Id),
    ("platformid", Field::Id),
    ("label", Field::Label),
    ("name", Field::Label),
    ("displayname", Field::Label),
    ("title", Field::Label),
    ("handle", Field::Handle),
    ("username", Field::Handle),
    ("slug", Field::Handle),
    ("login", Field::Handle),
    ("platformtype", Field::PlatformType),
    ("type", Field::PlatformType),
    ("platform", Field::PlatformType),
    ("kind", Field::PlatformType),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Label,
    Handle,
    PlatformType,
}

const CANONICAL_KEYS: [&str; 4] = schema::CONTEXT_KEYS;

/// Normalises a `platform_context` value into the canonical shape.
///
/// - An object: each canonical field takes the first of its aliases present (see
///   [`KEY_ALIASES`]: `id`/`platformId`; `label`/`name`/`displayName`/`title`;
///   `handle`/`username`/`slug`/`login`; `platformType`/`type`/`platform`/`kind`, compared
///   case-, underscore- and hyphen-insensitively). Strings are trimmed, empty strings become
///   null, numbers become their decimal text, anything else is null. Unknown keys are dropped.
/// - A JSON string that itself holds a JSON object (double-encoded by an old writer) is
///   decoded once and normalised as that object.
/// - The result is null when the value is not an object, or carries neither an id nor a label.
pub fn normalize_platform_context(value: &Value) -> (Option<PlatformContext>, ContextOutcome) {
    match value {
        Value::Null => (None, ContextOutcome::Absent),
        Value::Object(map) => normalize_object(map, false),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => normalize_object(&map, true),
            _ => (None, ContextOutcome::Nulled),
        },
        _ => (None, ContextOutcome::Nulled),
    }
}

fn normalize_object(
    map: &Map<String, Value>,
    decoded: bool,
) -> (Option<PlatformContext>, ContextOutcome) {
    let mut context = PlatformContext::default();
    // Rank of the alias that filled each field, so the preferred alias wins whatever the key order.
    let mut rank = [usize::MAX; 4];
    for (key, value) in map {
        let folded: String = key
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let Some(position) = KEY_ALIASES.iter().position(|(alias, _)| *alias == folded) else {
            continue;
        };
        let field = KEY_ALIASES[position].1;
        let slot = field as usize;
        let Some(text) = scalar_text(value) else {
            continue;
        };
        if position < rank[slot] {
            rank[slot] = position;
            let target = match field {
                Field::Id => &mut context.id,
                Field::Label => &mut context.label,
                Field::Handle => &mut context.handle,
                Field::PlatformType => &mut context.platform_type,
            };
            *target = Some(text);
        }
    }
    if context.id.is_none() && context.label.is_none() {
        return (None, ContextOutcome::Nulled);
    }
    let canonical = !decoded
        && map.iter().all(|(key, value)| {
            CANONICAL_KEYS.contains(&key.as_str())
                && match value {
                    Value::Null => true,
                    Value::String(s) => !s.is_empty() && s.trim() == s,
                    _ => false,
                }
        });
    let outcome = if canonical {
        ContextOutcome::Canonical
    } else {
        ContextOutcome::Repaired
    };
    (Some(context), outcome)
}

/// A trimmed non-empty string from a string or a number; `None` for anything else.
fn scalar_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(
        id: Option<&str>,
        label: Option<&str>,
        handle: Option<&str>,
        kind: Option<&str>,
    ) -> PlatformContext {
        PlatformContext {
            id: id.map(str::to_owned),
            label: label.map(str::to_owned),
            handle: handle.map(str::to_owned),
            platform_type: kind.map(str::to_owned),
        }
    }

    fn norm(value: Value) -> (Option<PlatformContext>, ContextOutcome) {
        normalize_platform_context(&value)
    }

    #[test]
    fn a_canonical_context_passes_through_unchanged() {
        let value = json!({"id": "ig-1", "label": "Instagram", "handle": "@shop", "platformType": "instagram"});
        assert_eq!(
            norm(value),
            (
                Some(ctx(
                    Some("ig-1"),
                    Some("Instagram"),
                    Some("@shop"),
                    Some("instagram")
                )),
                ContextOutcome::Canonical
            )
        );
    }

    #[test]
    fn a_canonical_context_with_nulls_and_missing_keys_is_still_canonical() {
        let value = json!({"id": "ig-1", "handle": null});
        assert_eq!(
            norm(value),
            (
                Some(ctx(Some("ig-1"), None, None, None)),
                ContextOutcome::Canonical
            )
        );
    }

    #[test]
    fn snake_case_and_variant_keys_map_to_the_canonical_ones() {
        let value = json!({"platform_id": "tt-9", "name": "TikTok", "username": "shop", "platform_type": "tiktok"});
        assert_eq!(
            norm(value),
            (
                Some(ctx(
                    Some("tt-9"),
                    Some("TikTok"),
                    Some("shop"),
                    Some("tiktok")
                )),
                ContextOutcome::Repaired
            )
        );
        let value = json!({"ID": "x", "Display-Name": "X", "slug": "x-shop", "type": "x"});
        assert_eq!(
            norm(value),
            (
                Some(ctx(Some("x"), Some("X"), Some("x-shop"), Some("x"))),
                ContextOutcome::Repaired
            )
        );
    }

    #[test]
    fn the_canonical_key_wins_over_a_variant_whatever_the_order() {
        let value =
            json!({"type": "legacy", "name": "Old", "platformType": "youtube", "label": "YouTube"});
        assert_eq!(
            norm(value),
            (
                Some(ctx(None, Some("YouTube"), None, Some("youtube"))),
                ContextOutcome::Repaired
            )
        );
    }

    #[test]
    fn strings_are_trimmed_and_blank_strings_become_null() {
        let value =
            json!({"id": "  ig-2 ", "label": "", "handle": "   ", "platformType": "\tinstagram\n"});
        assert_eq!(
            norm(value),
            (
                Some(ctx(Some("ig-2"), None, None, Some("instagram"))),
                ContextOutcome::Repaired
            )
        );
    }

    #[test]
    fn numbers_become_text_and_other_values_null() {
        let value = json!({"id": 12345, "label": true, "handle": {"a": 1}, "platformType": ["x"]});
        assert_eq!(
            norm(value),
            (
                Some(ctx(Some("12345"), None, None, None)),
                ContextOutcome::Repaired
            )
        );
    }

    #[test]
    fn extra_keys_are_dropped() {
        let value = json!({"id": "a", "label": "A", "followers": 10, "meta": {"x": 1}});
        assert_eq!(
            norm(value),
            (
                Some(ctx(Some("a"), Some("A"), None, None)),
                ContextOutcome::Repaired
            )
        );
    }

    #[test]
    fn a_context_without_id_or_label_is_null() {
        assert_eq!(
            norm(json!({"handle": "shop", "platformType": "x"})),
            (None, ContextOutcome::Nulled)
        );
        assert_eq!(
            norm(json!({"id": " ", "label": ""})),
            (None, ContextOutcome::Nulled)
        );
    }

    #[test]
    fn an_empty_object_is_null() {
        assert_eq!(norm(json!({})), (None, ContextOutcome::Nulled));
    }

    #[test]
    fn json_null_is_absent_not_a_repair() {
        assert_eq!(norm(Value::Null), (None, ContextOutcome::Absent));
    }

    #[test]
    fn a_plain_string_an_array_a_number_and_a_boolean_are_null() {
        assert_eq!(norm(json!("instagram")), (None, ContextOutcome::Nulled));
        assert_eq!(norm(json!([{"id": "a"}])), (None, ContextOutcome::Nulled));
        assert_eq!(norm(json!(42)), (None, ContextOutcome::Nulled));
        assert_eq!(norm(json!(true)), (None, ContextOutcome::Nulled));
    }

    #[test]
    fn a_double_encoded_object_is_decoded_once() {
        let value = json!("{\"id\": \"ig-3\", \"label\": \"Insta\"}");
        assert_eq!(
            norm(value),
            (
                Some(ctx(Some("ig-3"), Some("Insta"), None, None)),
                ContextOutcome::Repaired
            )
        );
    }
}
