//! The command line itself: help, version, usage errors. No broker needed.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn cmd() -> Command {
    let mut c = Command::new(common::BIN);
    for var in [
        "MQTT_SCAN_BROKER",
        "MQTT_SCAN_PASSWORD",
        "MQTT_SCAN_TOPIC",
        "MQTT_SCAN_USERNAME",
        "MQTT_SCAN_CLIENT_ID",
    ] {
        c.env_remove(var);
    }
    c
}

#[test]
fn help_lists_list_and_the_connection_flags() {
    cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("list").and(predicate::str::contains("--broker")))
        .stdout(predicate::str::contains("MQTT_SCAN_PASSWORD"));
    cmd()
        .args(["list", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--format").and(predicate::str::contains("--settle")));
}

#[test]
fn version_prints_the_crate_version() {
    cmd()
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("mqtt-scan {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_never_shows_secrets_from_the_environment() {
    cmd()
        .args(["list", "--help"])
        .env("MQTT_SCAN_PASSWORD", "hunter2")
        .env("MQTT_SCAN_BROKER", "mqtt://u:pw-in-url@h")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("hunter2")
                .not()
                .and(predicate::str::contains("pw-in-url").not()),
        );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for (args, want) in [
        (
            vec!["list", "--bogus"],
            "mqtt-scan: unexpected argument '--bogus' found",
        ),
        (
            vec!["list", "--format", "xml"],
            "mqtt-scan: invalid value 'xml' for '--format <FORMAT>'",
        ),
        (
            vec!["list", "-b", "foo://h"],
            "unknown scheme 'foo': use mqtt://, mqtts://, ws:// or wss://",
        ),
        (vec!["list", "-b", "mqtt://h:99999"], "invalid port '99999'"),
        (
            vec!["list", "--wait", "soon"],
            "invalid value 'soon' for '--wait <DUR>'",
        ),
        (
            vec!["list", "-t", "a/#/b"],
            "mqtt-scan: invalid topic pattern 'a/#/b': '#' must be the last level",
        ),
        (
            vec!["list", "--password", "x"],
            "mqtt-scan: a password needs a user name: pass --username",
        ),
        (
            vec!["list", "--json", "--format", "csv"],
            "cannot be used with",
        ),
        (vec!["nope"], "mqtt-scan: unrecognized subcommand 'nope'"),
        (
            vec!["list", "--mqtt-version", "5", "--keepalive", "0"],
            "--keepalive must be at least 5",
        ),
        (
            vec!["list", "--keepalive", "70000"],
            "invalid value '70000' for '--keepalive <SECS>'",
        ),
    ] {
        let out = cmd().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("mqtt-scan: "), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_bad_broker_url_never_repeats_its_password() {
    for url in [
        "mqtt://u:s3cret@h:99999",
        "mqtt://u:s3cret@h/path",
        "mqtt://u:s3cret%zz@h",
        "foo://u:s3cret@h",
    ] {
        for via_env in [false, true] {
            let mut c = cmd();
            if via_env {
                c.env("MQTT_SCAN_BROKER", url).arg("list");
            } else {
                c.args(["list", "-b", url]);
            }
            let out = c.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{url}: {err}");
            assert!(
                err.starts_with("mqtt-scan: invalid --broker URL: "),
                "{url}: {err}"
            );
            assert!(!err.contains("s3cret"), "{url}: {err}");
        }
    }
}

#[test]
fn absurd_durations_are_usage_errors_not_crashes() {
    for args in [
        vec!["list", "--wait", "500000000000y"],
        vec!["list", "--settle", "500000000000y"],
        vec!["list", "--connect-timeout", "18446744073709551615s"],
    ] {
        let out = cmd().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("too long") || err.contains("invalid value"),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1);
    }
}

#[test]
fn a_bad_pattern_is_escaped_in_the_error() {
    let out = cmd().args(["list", "-t", "a/#/\x1b[2J"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\x1b'), "{err}");
    assert!(err.contains("\\x1b[2J"), "{err}");
}

#[test]
fn password_file_wins_over_the_password_variable() {
    let dir = tempfile::tempdir().unwrap();
    let pw = common::write(dir.path(), "pw", "from-file\n");
    let port = common::free_port();
    // Not a usage error: it gets as far as connecting.
    cmd()
        .args([
            "list",
            "-b",
            &format!("127.0.0.1:{port}"),
            "-u",
            "x",
            "--password-file",
        ])
        .arg(&pw)
        .env("MQTT_SCAN_PASSWORD", "from-env")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("connection refused"));
}

#[test]
fn no_subcommand_shows_help_and_exits_2() {
    cmd()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage: mqtt-scan"));
}

#[test]
fn global_flags_go_before_or_after_the_subcommand() {
    // Both reach the same closed port and fail the same way.
    let port = common::free_port().to_string();
    let url = format!("127.0.0.1:{port}");
    for args in [
        vec!["-b", url.as_str(), "list"],
        vec!["list", "-b", url.as_str()],
    ] {
        cmd().args(&args).assert().code(1).stderr(format!(
            "mqtt-scan: connection refused by 127.0.0.1:{port}: is the broker running?\n"
        ));
    }
    cmd()
        .arg("list")
        .env("MQTT_SCAN_BROKER", &url)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("127.0.0.1:{port}")));
}
