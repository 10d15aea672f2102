//! `mqtt-scan check` against a real mosquitto: verdicts, exit codes, perfdata, state.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// The per-client formats: long output, checkmk, icinga-passive.
#[path = "check/services.rs"]
mod services;

fn check(broker: &str, args: &[&str]) -> Output {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    scan(broker, &all)
}

/// The status line (the first; long output follows it) split into its status word, summary
/// and perfdata (label -> fields).
/// `check` that must end UNKNOWN (3) in under `limit`: its stdout.
fn unknown_within(limit: Duration, broker: &str, args: &[&str]) -> String {
    let started = Instant::now();
    let out = check(broker, args);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(started.elapsed() < limit, "{:?}", started.elapsed());
    stdout(&out)
}

fn parse(out: &Output) -> (String, String, BTreeMap<String, Vec<String>>) {
    let text = stdout(out);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no line: {text:?}"));
    let rest = line
        .strip_prefix("MQTT-SCAN ")
        .unwrap_or_else(|| panic!("prefix: {line}"));
    let (status, rest) = rest.split_once(" - ").unwrap();
    let (summary, perf) = rest.split_once(" | ").unwrap_or((rest, ""));
    let perf = perf
        .split_whitespace()
        .map(|item| {
            let (label, values) = item
                .split_once('=')
                .unwrap_or_else(|| panic!("perfdata item {item}"));
            let fields: Vec<String> = values.split(';').map(ToOwned::to_owned).collect();
            assert!(fields[0].parse::<u64>().is_ok(), "numeric value in {item}");
            (label.to_owned(), fields)
        })
        .collect();
    (status.to_owned(), summary.to_owned(), perf)
}

fn fleet() -> Mosquitto {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    m.retain("sensors/connected/sensor2", "0");
    m.retain("sensors/connected/sensor3", "online");
    m
}

/// A broker whose ACL drops the probe: only --wait (or --timeout) ends the snapshot.
fn probe_dropping_broker() -> Mosquitto {
    Mosquitto::with(|port, dir| {
        let acl = write(dir, "acl", "topic read #\n");
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
            acl.display()
        )
    })
}

/// sensor1 and sensor2 expected, remembered in `state`, forgiven for `grace`.
fn grace_args<'a>(state: &'a Path, grace: &'a str) -> [&'a str; 8] {
    [
        "--expect",
        "sensor1",
        "--expect",
        "sensor2",
        "--state-file",
        state.to_str().unwrap(),
        "--grace",
        grace,
    ]
}

/// The state file as JSON.
fn state_json(state: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap()
}

#[test]
fn ok_when_every_expected_client_is_online() {
    let m = fleet();
    let out = check(&m.url(), &["--expect", "sensor1", "--expect", "sensor3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let (status, summary, perf) = parse(&out);
    assert_eq!(
        (status.as_str(), summary.as_str()),
        ("OK", "0/2 expected offline")
    );
    assert_eq!(perf["online"], ["2", "", "", "0"]);
    assert_eq!(
        perf["offline"],
        ["0", "1", "", "0"],
        "the default --warn-offline 1 shows"
    );
    assert_eq!(perf["total"], ["2", "", "", "0"]);
}

#[test]
fn warning_and_critical_with_the_spec_line() {
    let m = fleet();
    let expect = [
        "--expect", "sensor1", "--expect", "sensor2", "--expect", "sensor3",
    ];
    let out = check(&m.url(), &expect);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(parse(&out).0, "WARNING");
    let mut args = expect.to_vec();
    args.extend(["--crit-offline", "1"]);
    let out = check(&m.url(), &args);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        "MQTT-SCAN CRITICAL - 1/3 expected offline: sensor2 | online=2;;;0 offline=1;1;1;0 missing=0;;;0 stale=0;;;0 unknown=0;;;0 total=3;;;0\n\
         sensor2: offline since unknown\n\
         sensor1: online\n\
         sensor3: online\n"
    );
}

#[test]
fn without_expect_every_client_is_judged_and_nothing_alarms_by_default() {
    let m = fleet();
    let out = check(&m.url(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let (_, summary, perf) = parse(&out);
    assert_eq!(summary, "1/3 offline: sensor2");
    assert_eq!(perf["total"][0], "3");
    let out = check(&m.url(), &["--warn-offline", "1"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn missing_expected_clients_are_named_and_count_as_offline() {
    let m = fleet();
    let out = check(
        &m.url(),
        &[
            "--expect",
            "sensor1",
            "--expect",
            "ghost",
            "--crit-offline",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let (_, summary, perf) = parse(&out);
    assert_eq!(summary, "1/2 expected offline: ghost (missing)");
    assert_eq!(perf["missing"][0], "1");
    assert_eq!(perf["offline"][0], "1");
}

#[test]
fn an_expect_file_with_comments() {
    let m = fleet();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "fleet.txt",
        "# sensors in the house\nsensor1\nsensor3   # attic\n\n# sensor2 is retired\nnew-one\n",
    );
    let out = check(&m.url(), &["--expect-file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let (_, summary, perf) = parse(&out);
    assert_eq!(summary, "1/3 expected offline: new-one (missing)");
    assert_eq!(perf["total"][0], "3");
}

#[test]
fn min_online_is_critical() {
    let m = fleet();
    let out = check(&m.url(), &["--min-online", "3"]);
    assert_eq!(out.status.code(), Some(2));
    let (status, summary, perf) = parse(&out);
    assert_eq!(status, "CRITICAL");
    assert!(summary.ends_with("; 2 online, fewer than 3"), "{summary}");
    assert_eq!(perf["online"], ["2", "", "3:", "0"]);
    assert_eq!(
        check(&m.url(), &["--min-online", "2"]).status.code(),
        Some(0)
    );
}

#[test]
fn max_age_makes_old_json_timestamps_stale() {
    let m = Mosquitto::start();
    let now = chrono::Utc::now().timestamp();
    m.retain(
        "sensors/connected/fresh",
        &format!(r#"{{"status":1,"ts":{now}}}"#),
    );
    m.retain(
        "sensors/connected/old",
        &format!(r#"{{"status":1,"ts":{}}}"#, now - 7200),
    );
    let out = check(&m.url(), &["--max-age", "1h", "--warn-offline", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let (_, summary, perf) = parse(&out);
    assert_eq!(summary, "1/2 offline: old (stale)");
    assert_eq!(perf["stale"][0], "1");
    assert_eq!(perf["online"][0], "1");
}

#[test]
fn grace_forgives_across_runs_until_the_client_has_been_offline_that_long() {
    let m = fleet();
    m.retain("sensors/connected/sensor2", "1");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let args = grace_args(&state, "2s");
    // A run sees sensor2 online; then it goes offline (a retained offline with no time, as
    // a Will is): the next run knows the outage began after the last one, and forgives it.
    assert_eq!(check(&m.url(), &args).status.code(), Some(0));
    m.retain("sensors/connected/sensor2", "0");
    let went_offline = Instant::now();
    let out = check(&m.url(), &args);
    assert_eq!(out.status.code(), Some(0), "forgiven: {}", stdout(&out));
    let (_, summary, perf) = parse(&out);
    assert!(
        summary.contains("1 forgiven (offline less than 2s): sensor2"),
        "{summary}"
    );
    assert_eq!(perf["forgiven"][0], "1");
    let saved = state_json(&state);
    let first_seen = saved["first_offline"]["sensor2"].clone();
    assert!(first_seen.is_string(), "{saved}");

    // Later runs remember the first sighting: forgiven until 2 s have passed, then not.
    let out = wait_for("the grace to run out", Duration::from_secs(15), || {
        let out = check(&m.url(), &args);
        (out.status.code() == Some(1)).then_some(out)
    });
    assert!(went_offline.elapsed() >= Duration::from_secs(2));
    assert_eq!(parse(&out).1, "1/2 expected offline: sensor2");
    let saved = state_json(&state);
    assert_eq!(
        saved["first_offline"]["sensor2"], first_seen,
        "the first sighting is kept"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn grace_does_not_forgive_a_status_retained_offline_before_the_first_run() {
    // sensor2's retained offline has no time: it may have been down for a year. The first
    // run with --grace must say so, not call it a fresh outage.
    let m = fleet();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let args = grace_args(&state, "5m");
    for run in ["first", "second"] {
        let out = check(&m.url(), &args);
        assert_eq!(out.status.code(), Some(1), "{run} run: {}", stdout(&out));
        assert_eq!(parse(&out).1, "1/2 expected offline: sensor2", "{run} run");
    }
    let saved = state_json(&state);
    assert!(
        saved["first_offline"]["sensor2"].is_null(),
        "offline since an unknown time: {saved}"
    );
    // A status that says when it went offline is judged by that time.
    let now = chrono::Utc::now().timestamp();
    m.retain(
        "sensors/connected/sensor3",
        &format!(r#"{{"status":0,"ts":{}}}"#, now - 10),
    );
    let out = check(
        &m.url(),
        &[
            "--expect",
            "sensor3",
            "--state-file",
            dir.path().join("other.json").to_str().unwrap(),
            "--grace",
            "5m",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn nothing_to_judge_is_unknown_and_names_the_topics() {
    let m = fleet();
    let out = check(&m.url(), &["-t", "sensors/conected/#"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let (status, summary, perf) = parse(&out);
    assert_eq!(status, "UNKNOWN");
    assert!(
        summary.starts_with(
            "0/0 offline; no client status on the topics subscribed (sensors/conected/#): nothing to judge"
        ),
        "{summary}"
    );
    assert_eq!(perf["total"][0], "0");
    // `check -t 10`, a Nagios habit meaning a timeout.
    let out = check(&m.url(), &["-t", "10"]);
    assert_eq!(out.status.code(), Some(3));
    let summary = parse(&out).1;
    assert!(
        summary.contains("-t is --topic here") && summary.contains("use --timeout 10s"),
        "{summary}"
    );
    // With --min-online, an empty fleet is a breach.
    let out = check(&m.url(), &["-t", "nothing/#", "--min-online", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert_eq!(parse(&out).0, "CRITICAL");
}

#[test]
fn nagios_warning_and_critical_ranges_on_the_offline_count() {
    let m = fleet(); // 1 of 3 offline
    let status = |args: &[&str]| {
        let out = check(&m.url(), args);
        let (status, _, perf) = parse(&out);
        (out.status.code(), status, perf["offline"].clone())
    };
    assert_eq!(
        status(&["-w", "0"]),
        (
            Some(1),
            "WARNING".into(),
            vec!["1".into(), "0".into(), String::new(), "0".into()]
        )
    );
    assert_eq!(status(&["--warning", "1"]).0, Some(0));
    assert_eq!(
        status(&["-w", "0", "-c", "0"]),
        (
            Some(2),
            "CRITICAL".into(),
            vec!["1".into(), "0".into(), "0".into(), "0".into()]
        )
    );
    assert_eq!(status(&["--critical", "@1:5"]).0, Some(2));
    assert_eq!(
        status(&["-c", "2:"]).0,
        Some(2),
        "fewer than 2 offline alerts"
    );
    assert_eq!(status(&["-w", "~:3"]).0, Some(0));
    // With --expect, -w replaces the default --warn-offline 1.
    assert_eq!(
        status(&["--expect", "sensor2", "-w", "1"]).0,
        Some(0),
        "1 offline is inside 0:1"
    );
    for bad in [
        vec!["check", "-w", "1.5"],
        vec!["check", "-w", "5:1"],
        vec!["check", "-w", "1", "--warn-offline", "1"],
    ] {
        let out = Command::new(BIN).args(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{bad:?}: {}", stdout(&out));
        assert!(stdout(&out).starts_with("MQTT-SCAN UNKNOWN - "), "{bad:?}");
    }
}

#[test]
fn nagios_host_and_port_flags() {
    let m = fleet();
    let port = m.port.to_string();
    for host_flag in ["-H", "-h", "--host"] {
        // The broker URL names neither: the run passes only if both flags replace its parts.
        let out = Command::new(BIN)
            .args([
                "-b",
                "mqtt://nobroker.invalid:1",
                "check",
                host_flag,
                "127.0.0.1",
                "-p",
                &port,
                "--expect",
                "sensor1",
            ])
            .env_remove("MQTT_SCAN_BROKER")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{host_flag}: {}", stdout(&out));
    }
}

#[test]
fn timeout_bounds_the_whole_run_and_names_the_stage() {
    // A broker that accepts TCP and never answers: the connect stage.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let text = unknown_within(
        Duration::from_secs(5),
        &format!("127.0.0.1:{port}"),
        &["--connect-timeout", "30s", "--timeout", "1s"],
    );
    assert!(
        text.starts_with(&format!(
            "MQTT-SCAN UNKNOWN - --timeout 1s ran out while connecting to mqtt://127.0.0.1:{port}"
        )),
        "{text}"
    );
    // The snapshot never completes, and --wait is long.
    let m = probe_dropping_broker();
    let text = unknown_within(
        Duration::from_secs(5),
        &m.url(),
        &["--wait", "30s", "--timeout", "1s"],
    );
    assert!(
        text.starts_with(
            "MQTT-SCAN UNKNOWN - --timeout 1s ran out while waiting for the retained snapshot"
        ),
        "{text}"
    );
}

#[test]
fn a_corrupt_or_foreign_state_file_is_unknown_with_a_clear_message() {
    let m = fleet();
    let dir = tempfile::tempdir().unwrap();
    for (content, why) in [
        ("{\"first_off", "corrupt"),
        ("{\"hello\": 1}", "not an mqtt-scan state file"),
    ] {
        let state = write(dir.path(), "state.json", content);
        let out = check(
            &m.url(),
            &["--state-file", state.to_str().unwrap(), "--grace", "1m"],
        );
        assert_eq!(out.status.code(), Some(3));
        let line = stdout(&out);
        assert!(
            line.starts_with("MQTT-SCAN UNKNOWN - --state-file "),
            "{line}"
        );
        assert!(
            line.contains(why) && line.contains("delete it to start over"),
            "{line}"
        );
        assert!(
            stderr(&out).starts_with("mqtt-scan: --state-file"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            content,
            "left alone"
        );
    }
}

#[test]
fn a_broker_that_is_down_is_unknown_within_the_connect_timeout() {
    let port = free_port();
    let text = unknown_within(
        Duration::from_secs(3),
        &format!("127.0.0.1:{port}"),
        &["--connect-timeout", "2s"],
    );
    assert_eq!(
        text,
        format!(
            "MQTT-SCAN UNKNOWN - connection refused by 127.0.0.1:{port}: is the broker running?\n"
        )
    );
    // A broker that accepts TCP and never answers: the timeout decides.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let text = unknown_within(
        Duration::from_secs(3),
        &format!("127.0.0.1:{port}"),
        &["--connect-timeout", "1s"],
    );
    assert!(
        text.starts_with(&format!(
            "MQTT-SCAN UNKNOWN - 127.0.0.1:{port} accepted the connection but sent no CONNACK within 1s"
        )),
        "{text}"
    );
}

#[test]
fn bad_arguments_are_unknown_not_critical() {
    for args in [
        vec!["check", "--bogus"],
        vec!["check", "--warn-offline", "many"],
        vec!["check", "--grace", "5m"],
        vec!["check", "--expect-file", "/nonexistent/fleet.txt"],
        vec!["-b", "foo://x", "check"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stdout(&out));
        assert!(
            stdout(&out).starts_with("MQTT-SCAN UNKNOWN - "),
            "{args:?}: {}",
            stdout(&out)
        );
        assert_eq!(stdout(&out).lines().count(), 1);
        assert!(stderr(&out).starts_with("mqtt-scan: "), "{args:?}");
    }
}

#[test]
fn an_incomplete_snapshot_is_unknown() {
    let m = probe_dropping_broker();
    let out = check(&m.url(), &["--wait", "500ms"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout(&out).starts_with("MQTT-SCAN UNKNOWN - the snapshot is incomplete"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn json_verdict() {
    let m = fleet();
    let out = check(
        &m.url(),
        &[
            "--expect", "sensor2", "--expect", "sensor9", "--format", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "WARNING");
    assert_eq!(v["code"], 1);
    assert_eq!(v["offline"], serde_json::json!(["sensor2", "sensor9"]));
    assert_eq!(v["missing"], serde_json::json!(["sensor9"]));
    assert_eq!(v["thresholds"]["warn_offline"], 1);
    assert!(v["perfdata"]
        .as_str()
        .unwrap()
        .starts_with("online=0;;;0 offline=2;1;;0"));
    let out = check("127.0.0.1:1", &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["code"].as_u64()),
        (Some("UNKNOWN"), Some(3))
    );
}
