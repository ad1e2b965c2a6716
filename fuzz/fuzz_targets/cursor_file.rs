//! Any bytes as a cursor file: an error or a cursor that renders and reads back the same.
#![no_main]

use guardrail_followups::cursor::{parse, render};
use guardrail_followups::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(state) = parse(bytes) {
        if let Some(position) = state.position {
            let _ = position.to_string();
        }
        let text = render(&state, 0, Timestamp::from_micros(0));
        let back = parse(text.as_bytes()).expect("a rendered cursor reads back");
        assert_eq!(back.position, state.position);
        assert_eq!(back.audit, state.audit);
    }
});
