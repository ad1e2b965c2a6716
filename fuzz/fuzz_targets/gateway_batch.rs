//! Any bytes as a (decompressed) request body at the gateway: a refusal or a batch of rows and
//! tombstones, never a panic. A batch it accepts, sent again as the exporter would send those
//! stored lines, is accepted again unchanged: what the lake holds is what the gateway accepts.
#![no_main]

use guardrail_followups::gateway::batch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(stored) = batch::parse(bytes) else {
        return;
    };
    let lines: Vec<&[u8]> = stored
        .ndjson
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(lines.len(), stored.rows);
    let mut body = b"{\"followUps\":[".to_vec();
    body.extend_from_slice(&lines.join(&b","[..]));
    body.extend_from_slice(b"]}");
    let again = batch::parse(&body).expect("the stored lines are accepted again");
    assert_eq!(again.ndjson, stored.ndjson);
    assert_eq!((again.rows, again.date), (stored.rows, stored.date));
});
