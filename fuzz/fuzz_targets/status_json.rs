//! Any bytes as the status document the admin page reads: an error or a status, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = guardrail_followups::admin::status::parse(bytes);
});
