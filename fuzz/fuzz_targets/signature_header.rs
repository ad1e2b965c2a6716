//! Any X-Guardrail-Signature header: verification answers, never panics, and accepts only the
//! v2 signature of the request.
#![no_main]

use guardrail_followups::wire::{Signed, sign, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &[u8])| {
    let (header, body) = input;
    let secret = b"fuzz-secret";
    let now = 1_800_000_000;
    let request = Signed {
        key: "gf1-0123",
        encoding: "",
        body,
    };
    if verify(secret, Some(header), request, now).is_ok() {
        // Only a header carrying the real MAC of this body can pass.
        let t: u64 = header
            .split(',')
            .find_map(|p| p.trim().strip_prefix("t="))
            .and_then(|t| t.parse().ok())
            .expect("an accepted header has a timestamp");
        let expected = sign(secret, t, request);
        let mac = expected.split_once("v2=").unwrap().1;
        assert!(header.contains(mac), "{header} accepted for another MAC");
    }
});
