//! Any JSON as platform_context: the normaliser never panics and its output is canonical.
#![no_main]

use guardrail_followups::row::{ContextOutcome, normalize_platform_context};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    let (context, _) = normalize_platform_context(&value);
    if let Some(context) = context {
        let again = normalize_platform_context(&serde_json::to_value(&context).unwrap());
        assert_eq!(again.0.as_ref(), Some(&context));
        assert_eq!(again.1, ContextOutcome::Canonical);
    }
});
