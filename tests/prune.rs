//! `mqtt-scan prune` against a real mosquitto.

mod common;

use std::process::Output;

use common::*;

fn prune(broker: &str, args: &[&str]) -> Output {
    let mut all = vec!["prune"];
    all.extend_from_slice(args);
    scan(broker, &all)
}

fn names(broker: &str) -> Vec<String> {
    let doc = list_json(broker, &[]);
    doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn fleet() -> Mosquitto {
    let m = Mosquitto::start();
    m.retain("sensors/connected/on1", "1");
    m.retain("sensors/connected/off1", "0");
    m.retain("sensors/connected/off2", "lost");
    m.retain("sensors/connected/odd", "maybe");
    m
}

#[test]
fn a_dry_run_lists_what_it_would_clear_and_clears_nothing() {
    let m = fleet();
    let out = prune(&m.url(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "sensors/connected/off1\nsensors/connected/off2\n"
    );
    assert!(
        stderr(&out).contains("dry run: 2 retained statuses would be cleared; add --yes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(names(&m.url()), ["odd", "off1", "off2", "on1"]);
}

#[test]
fn yes_clears_offline_statuses_only() {
    let m = fleet();
    let out = prune(&m.url(), &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "sensors/connected/off1\nsensors/connected/off2\n"
    );
    assert_eq!(stderr(&out), "mqtt-scan: cleared 2 retained statuses\n");
    assert_eq!(
        names(&m.url()),
        ["odd", "on1"],
        "online and unknown rows survive"
    );
    // Really gone from the broker's store, not just from our table.
    let raw = m.sub_cmd(&["-t", "sensors/connected/off1", "--retained-only", "-W", "1"]);
    assert!(raw.stdout.is_empty());
}

#[test]
fn state_unknown_adds_unknown_rows_and_never_online_ones() {
    let m = fleet();
    let out = prune(&m.url(), &["--state", "unknown", "--yes"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(names(&m.url()), ["on1"]);
}

#[test]
fn older_than_judges_payload_timestamps_and_keeps_statuses_without_one() {
    let m = Mosquitto::start();
    let now = chrono::Utc::now().timestamp();
    m.retain(
        "sensors/connected/ancient",
        &format!(r#"{{"status":0,"ts":{}}}"#, now - 30 * 86_400),
    );
    m.retain(
        "sensors/connected/recent",
        &format!(r#"{{"status":0,"ts":{}}}"#, now - 60),
    );
    m.retain("sensors/connected/timeless", "0");
    let out = prune(&m.url(), &["--older-than", "7d", "--yes"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "sensors/connected/ancient\n");
    assert_eq!(names(&m.url()), ["recent", "timeless"]);
}

#[test]
fn statuses_the_broker_would_not_clear_are_reported() {
    // Anonymous clients may read but not publish; a writer set the statuses.
    let m = Mosquitto::with_writer("topic read #\ntopic readwrite mqtt-scan/#\n");
    m.retain_as_writer("sensors/connected/stuck", "0");
    let out = prune(&m.url(), &["--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "mqtt-scan: 1 of 1 statuses are still on the broker (is this user allowed to publish to them?): sensors/connected/stuck\n"
    );
    assert_eq!(names(&m.url()), ["stuck"]);
}
