//! The webhook payload parser: any body, under any of the events sizegate
//! reads, parses or gives an error; never a panic.
//!
//! Input: a byte choosing the `X-GitHub-Event` value, then the body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sizegate_github::webhook::{parse_event, verify_signature};

const EVENTS: [&str; 8] = [
    "pull_request",
    "check_run",
    "check_suite",
    "installation",
    "installation_repositories",
    "push",
    "workflow_run",
    "ping",
];

fuzz_target!(|data: &[u8]| {
    let Some((&event, body)) = data.split_first() else {
        return;
    };
    let event = EVENTS[usize::from(event) % EVENTS.len()];
    match parse_event(event, body) {
        Ok(parsed) => {
            let _ = format!("{parsed:?}");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // The signature header is attacker-chosen too: the body's first line
    // stands in for it.
    let line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let header = String::from_utf8_lossy(line);
    let _ = verify_signature(b"secret", body, Some(&header));
});
