//! What the README promises a newcomer, and the small things that surprised one (#14).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use common::*;

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("MQTT_SCAN_BROKER")
        .env_remove("MQTT_SCAN_TOPIC")
        .output()
        .unwrap()
}

#[test]
fn preset_help_works_without_or_with_any_subcommand() {
    for args in [
        vec!["--preset", "help"],
        vec!["--preset", "help", "list"],
        vec!["list", "--preset", "help"],
        vec!["watch", "--preset", "help"],
        vec!["check", "--preset", "help"],
        vec!["-t", "x/#", "--preset", "help"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("tasmota") && stdout(&out).contains("tele/+/LWT"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    // A preset without a subcommand is still a usage error (the help, exit 2).
    let out = run(&["--preset", "tasmota"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Usage: mqtt-scan"));
}

#[test]
fn demo_rejects_flags_it_would_ignore() {
    for (args, flag) in [
        (vec!["demo", "-b", "mqtt://h"], "-b/--broker"),
        (vec!["-b", "mqtt://h", "demo"], "-b/--broker"),
        (vec!["demo", "-t", "a/#"], "-t/--topic"),
        (vec!["demo", "--preset", "tasmota"], "--preset"),
        (vec!["demo", "-h", "h"], "-h/--host"),
        (vec!["demo", "-u", "me"], "-u/--username"),
    ] {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!(
                "mqtt-scan: demo does not take {flag}: it runs its own broker"
            )),
            "{args:?}: {err}"
        );
    }
}

/// The demo's first stderr line, with the environment `env` (the demo then runs for 1 s).
fn demo_first_line(env: &[(&str, &str)]) -> String {
    let mut c = Command::new(BIN);
    c.args([
        "demo",
        "--duration",
        "1s",
        "--format",
        "jsonl",
        "--devices",
        "1",
    ])
    .env_remove("CARGO_PKG_NAME")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut demo = c.spawn().unwrap();
    let mut first = String::new();
    BufReader::new(demo.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(demo.wait().unwrap().success());
    first
}

#[test]
fn demo_says_how_to_run_mqtt_scan_from_another_terminal() {
    // Under `cargo run` there is no mqtt-scan on PATH.
    let line = demo_first_line(&[("CARGO_PKG_NAME", "mqtt-scan"), ("PATH", "/usr/bin:/bin")]);
    assert!(
        line.contains("(in another terminal: cargo run --release -- list -b mqtt://127.0.0.1:"),
        "{line}"
    );
    // Started by its path, not on PATH: that path.
    let exe = std::fs::canonicalize(BIN).unwrap();
    let line = demo_first_line(&[("PATH", "/usr/bin:/bin")]);
    assert!(
        line.contains(&format!(
            "(in another terminal: {} list -b mqtt://",
            exe.display()
        )),
        "{line}"
    );
    // Installed on PATH: the bare name.
    let dir = exe.parent().unwrap().to_str().unwrap().to_owned();
    let line = demo_first_line(&[("PATH", &format!("{dir}:/usr/bin:/bin"))]);
    assert!(
        line.contains("(in another terminal: mqtt-scan list -b mqtt://"),
        "{line}"
    );
    // MQTT_SCAN_BROKER is for every command: demo does not refuse it.
    let line = demo_first_line(&[("MQTT_SCAN_BROKER", "mqtt://elsewhere")]);
    assert!(
        line.starts_with("mqtt-scan: demo broker at mqtt://127.0.0.1:"),
        "{line}"
    );
}

#[test]
fn a_pattern_with_name_twice_is_a_usage_error() {
    let out = run(&["list", "-t", "a/{name}/{name}"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "mqtt-scan: invalid topic pattern 'a/{name}/{name}': '{name}' may appear only once (use + for the other wildcard levels, as in +/{name}/LWT)\n"
    );
}

#[test]
fn prune_state_help_reads_plainly() {
    let out = run(&["prune", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    assert!(!help.contains("besides nothing"), "{help}");
    assert!(
        help.contains("Which statuses to clear: offline ones, or offline and unknown ones"),
        "{help}"
    );
}
