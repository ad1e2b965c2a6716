//! Property tests over generated inputs: the row contract between the exporter and the
//! gateway, the platformContext normaliser, the cursor parser and the webhook signature.
//! Failing cases are shrunk and printed by proptest with the seed that reproduces them.

use proptest::prelude::*;
use serde_json::Value;

use crate::row::{FollowUp, SourceRow, normalize_platform_context};
use crate::time::Timestamp;

/// Arbitrary JSON, nested a few levels, with strings that include blanks, padding, control
/// characters, `\u0000` and non-ASCII text.
fn json() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        Just(String::new()),
        Just("   ".to_owned()),
        "\\PC{0,12}",
        "[ \t\n\u{0}\u{7f}a-zé📦]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text.clone().prop_map(Value::String),
    ];
    let keys = prop_oneof![
        Just("id".to_owned()),
        Just("label".to_owned()),
        Just("Handle".to_owned()),
        Just("platform_type".to_owned()),
        Just("username".to_owned()),
        Just("kind".to_owned()),
        "[a-zA-Z_-]{0,10}",
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text a PostgreSQL `text`/`varchar` column can hold: any Unicode but NUL.
fn pg_text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("  ".to_owned()),
        prop::string::string_regex(&format!("[^\u{0}]{{0,{max}}}")).unwrap(),
    ]
}

/// Microseconds of instants in years 1 to 9999.
fn printable_micros() -> impl Strategy<Value = i64> {
    -62_135_596_800_000_000i64..253_402_300_799_999_999i64
}

fn source_row() -> impl Strategy<Value = SourceRow> {
    (
        any::<u128>(),
        pg_text(128),
        proptest::option::of(pg_text(40)),
        pg_text(64),
        proptest::option::of(pg_text(200)),
        proptest::option::of(prop_oneof![
            json().prop_map(|v| v.to_string()),
            "\\PC{0,20}",
        ]),
        (
            proptest::option::of(pg_text(40)),
            proptest::option::of(pg_text(80)),
        ),
        printable_micros(),
    )
        .prop_map(
            |(id, provider_id, provider_name, action, notes, context, (cursor, href), micros)| {
                SourceRow {
                    provider_name,
                    notes,
                    platform_context: context,
                    conversion_cursor: cursor,
                    conversion_href: href,
                    ..SourceRow::new(
                        uuid::Uuid::from_u128(id),
                        provider_id,
                        action,
                        Timestamp::from_micros(micros),
                    )
                }
            },
        )
}

fn canonical_strings(value: &Option<String>) -> bool {
    value
        .as_ref()
        .is_none_or(|s| !s.is_empty() && s.trim() == s)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any row the table can hold is exported as a line with the nine keys, and the gateway's
    /// own validation accepts its batch: no row is ever refused for its content.
    #[test]
    fn every_source_row_is_exported_as_a_line_the_gateway_accepts(rows in prop::collection::vec(source_row(), 1..4)) {
        let mut lines = Vec::new();
        for row in rows {
            let (follow_up, _) = FollowUp::from_source(row);
            prop_assert_eq!(follow_up.check_canonical(), Ok(()));
            let line = serde_json::to_string(&follow_up).unwrap();
            let parsed: Value = serde_json::from_str(&line).unwrap();
            prop_assert_eq!(parsed.as_object().unwrap().len(), 9, "{}", line);
            lines.push(parsed);
        }
        let body = serde_json::to_vec(&serde_json::json!({ "followUps": lines })).unwrap();
        let accepted = crate::gateway::batch::parse(&body);
        prop_assert!(accepted.is_ok(), "{:?} refused {}", accepted.err(), String::from_utf8_lossy(&body));
    }

    /// A tombstone for any exported row, sent beside rows as `reconcile --repair` sends it, is
    /// accepted and stored byte for byte as the exporter wrote it; the lake reader reads it back
    /// as that follow-up's tombstone.
    #[test]
    fn a_tombstone_for_any_row_is_accepted_beside_rows_and_stored_as_written(
        rows in prop::collection::vec(source_row(), 1..4),
        deleted_at in printable_micros(),
    ) {
        let tombstones: Vec<crate::row::Tombstone> = rows
            .iter()
            .map(|row| crate::row::Tombstone {
                follow_up_id: row.id,
                created_at: row.created_at,
                deleted_at: crate::time::Timestamp::from_micros(deleted_at),
            })
            .collect();
        let mut batch = crate::export::batch::Batch::of_tombstones(&tombstones);
        for row in rows {
            let (follow_up, _) = FollowUp::from_source(row);
            batch.ndjson.extend(serde_json::to_vec(&follow_up).unwrap());
            batch.ndjson.push(b'\n');
        }
        let body = format!(
            "{{\"followUps\":[{}]}}",
            batch
                .json_array_items()
                .map(|l| String::from_utf8(l.to_vec()).unwrap())
                .collect::<Vec<_>>()
                .join(",")
        );
        let accepted = crate::gateway::batch::parse(body.as_bytes());
        prop_assert!(accepted.is_ok(), "{:?} refused {}", accepted.err(), body);
        prop_assert_eq!(accepted.unwrap().ndjson, batch.ndjson);
    }

    /// The normaliser never panics, yields only trimmed non-empty strings or nulls, and is
    /// idempotent: its output is canonical.
    #[test]
    fn the_platform_context_normaliser_is_total_and_idempotent(value in json()) {
        let (context, _) = normalize_platform_context(&value);
        if let Some(context) = context {
            prop_assert!(canonical_strings(&context.id));
            prop_assert!(canonical_strings(&context.label));
            prop_assert!(canonical_strings(&context.handle));
            prop_assert!(canonical_strings(&context.platform_type));
            let again = normalize_platform_context(&serde_json::to_value(&context).unwrap());
            prop_assert_eq!(again.0, Some(context));
            prop_assert_eq!(again.1, crate::row::ContextOutcome::Canonical);
        }
    }

    /// Any cursor-file text is an error or a usable cursor, never a panic; a usable one can be
    /// printed, saved and read back the same.
    #[test]
    fn any_cursor_file_text_is_an_error_or_a_usable_cursor(
        text in prop_oneof![
            "\\PC{0,80}",
            (printable_micros(), any::<i64>(), 1u64..90_000).prop_map(|(m, bucket, seconds)| format!(
                r#"{{"cursor": "{}", "cursorId": "34499643-553a-4182-8a9d-508c35871667", "rows": 1, "updatedAt": "2026-01-01T00:00:00.000000Z", "providerId": null, "totalRows": 1, "version": 2, "audit": {{"since": null, "sinceId": null, "bucketSeconds": {seconds}, "buckets": [[{bucket}, 1, "5"]]}}}}"#,
                Timestamp::from_micros(m)
            )),
        ]
    ) {
        if let Ok(state) = crate::cursor::parse(text.as_bytes()) {
            if let Some(position) = state.position {
                let _ = position.to_string();
            }
            let rendered = crate::cursor::render(&state, 0, Timestamp::now());
            let back = crate::cursor::parse(rendered.as_bytes()).unwrap();
            prop_assert_eq!(back.position, state.position);
            prop_assert_eq!(back.audit, state.audit);
        }
    }

    /// A signature verifies exactly within the replay window, and any flipped byte of the body
    /// makes it fail.
    #[test]
    fn signatures_verify_within_the_window_and_any_flipped_byte_fails(
        secret in prop::collection::vec(any::<u8>(), 1..40),
        body in prop::collection::vec(any::<u8>(), 1..200),
        sent in 1_000_000u64..2_000_000_000,
        skew in -1_000i64..1_000,
        flip in any::<prop::sample::Index>(),
    ) {
        let request = |body| crate::wire::Signed { key: "gf1-k", encoding: "gzip", body };
        let header = crate::wire::sign(&secret, sent, request(&body));
        let now = sent.saturating_add_signed(skew);
        let verdict = crate::wire::verify(&secret, Some(&header), request(&body), now);
        prop_assert_eq!(verdict.is_ok(), skew.unsigned_abs() <= 300, "{:?}", verdict);
        let mut tampered = body.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 0x01;
        prop_assert_eq!(
            crate::wire::verify(&secret, Some(&header), request(&tampered), sent),
            Err(crate::wire::SignatureError::Mismatch)
        );
    }
}
