//! Replays what the fuzzers found (`fuzz/regressions/TARGET/*`) and the hand-written seeds
//! (`fuzz/seeds/TARGET/*`) through the fuzz targets' own checks, so CI keeps every fixed
//! finding fixed without a nightly toolchain. Add a crashing input to `fuzz/regressions/TARGET/`.

use std::path::Path;

#[path = "../fuzz/checks/broker_url.rs"]
mod broker_url;
#[path = "../fuzz/checks/fold.rs"]
mod fold;
#[path = "../fuzz/checks/pattern.rs"]
mod pattern;
#[path = "../fuzz/checks/payload.rs"]
mod payload;

/// Every regression input and seed of `target`, as (path, bytes).
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["regressions", "seeds"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

fn replay(target: &str, check: fn(&[u8]), at_least: usize) {
    let inputs = inputs(target);
    assert!(
        inputs.len() >= at_least,
        "{target}: {} inputs, expected at least {at_least}",
        inputs.len()
    );
    for (path, bytes) in &inputs {
        let caught = std::panic::catch_unwind(|| check(bytes));
        assert!(caught.is_ok(), "{path} fails the {target} target's check");
    }
}

#[test]
fn payload_findings_and_seeds() {
    replay("payload", payload::check_input, 20);
}

#[test]
fn pattern_seeds() {
    replay("pattern", pattern::check_input, 10);
}

#[test]
fn broker_url_findings_and_seeds() {
    replay("broker_url", broker_url::check_input, 25);
}

#[test]
fn fold_findings_and_seeds() {
    replay("fold", fold::check_input, 5);
}
