//! `check`'s per-client output against a real mosquitto: the long output, Checkmk local
//! checks (with and without piggyback) and Icinga passive results.

use super::{check, fleet};
use crate::common::*;

/// The long output: one line per judged client after the status line, problems first.
#[test]
fn long_output_names_each_judged_client_after_the_status_line() {
    let m = fleet();
    let out = check(
        &m.url(),
        &[
            "--expect", "sensor1", "--expect", "sensor2", "--expect", "sensor9",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(
            "MQTT-SCAN WARNING - 2/3 expected offline: sensor2, sensor9 (missing) | online=1;;;0 "
        ),
        "{text}"
    );
    assert_eq!(
        lines[1..],
        [
            "sensor2: offline since unknown",
            "sensor9: missing (expected, no status)",
            "sensor1: online",
        ],
        "{text}"
    );
    // A hostile name cannot start perfdata on a long-output line.
    m.retain("sensors/connected/a|b\"c", "0");
    let out = check(&m.url(), &[]);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.lines().skip(1).all(|l| !l.contains('|')), "{text}");
    assert!(text.contains("\na\\x7cb\"c: offline"), "{text}");
}

/// Checkmk local checks: the fleet service, then one service per client, each with its
/// own state; the exit code is 0 because the states are in the lines.
#[test]
fn checkmk_local_checks_one_service_per_client() {
    let m = fleet();
    m.retain("sensors/connected/fleet", "1");
    m.retain("sensors/connected/a b\"<c>", "0");
    let out = check(&m.url(), &["--format", "checkmk", "--crit-offline", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(
            "2 \"MQTT fleet\" online=3|offline=2|missing=0|stale=0|unknown=0|total=5 2/5 offline: "
        ),
        "{text}"
    );
    assert_eq!(
        lines[1..],
        [
            "2 \"MQTT a b'<c>\" changes=0 offline since unknown",
            "0 \"MQTT fleet (2)\" changes=0 online",
            "0 \"MQTT sensor1\" changes=0 online",
            "2 \"MQTT sensor2\" changes=0 offline since unknown",
            "0 \"MQTT sensor3\" changes=0 online",
        ],
        "{text}"
    );

    let out = check(
        &m.url(),
        &[
            "--format",
            "checkmk",
            "--piggyback",
            "--expect",
            "sensor2",
            "--expect",
            "a b\"<c>",
            "--service-prefix",
            "Status ",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("1 \"Status fleet\" "), "{text}");
    assert_eq!(
        lines[1..],
        [
            "<<<<sensor2>>>>",
            "<<<local:sep(0)>>>",
            "2 \"Status sensor2\" changes=0 offline since unknown",
            "<<<<>>>>",
            "<<<<a_b\"_c_>>>>",
            "<<<local:sep(0)>>>",
            "2 \"Status a b'<c>\" changes=0 offline since unknown",
            "<<<<>>>>",
        ],
        "{text}"
    );
}

#[test]
fn checkmk_that_cannot_run_is_one_unknown_fleet_line() {
    let out = check(
        "127.0.0.1:1",
        &["--format", "checkmk", "--connect-timeout", "2s"],
    );
    assert_eq!(out.status.code(), Some(3));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("3 \"MQTT fleet\" - "), "{text}");
    // The fleet service keeps its name, and a flag clap rejects is the same UNKNOWN line.
    for args in [
        vec![
            "--format",
            "checkmk",
            "--service-prefix",
            "Status ",
            "--connect-timeout",
            "2s",
        ],
        vec!["--format=checkmk", "--bogus"],
    ] {
        let out = check("127.0.0.1:1", &args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "{text}");
        let fleet = if args.contains(&"Status ") {
            "Status"
        } else {
            "MQTT"
        };
        assert!(
            text.starts_with(&format!("3 \"{fleet} fleet\" - ")),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn icinga_passive_results_one_per_client() {
    let m = fleet();
    let out = check(
        &m.url(),
        &[
            "--format",
            "icinga-passive",
            "--host-name",
            "gw;1",
            "--expect",
            "sensor2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    let (ts, rest) = text.trim_end().split_once("] ").unwrap();
    assert!(
        ts.strip_prefix('[').unwrap().parse::<i64>().is_ok(),
        "{text}"
    );
    assert_eq!(
        rest,
        "PROCESS_SERVICE_CHECK_RESULT;gw\\x3b1;MQTT sensor2;2;sensor2: offline since unknown"
    );
    let out = check(&m.url(), &["--format", "icinga-passive"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("needs --host-name"),
        "{}",
        stderr(&out)
    );
    // A per-format flag with another format is a mistake, said as one UNKNOWN line.
    let out = check(&m.url(), &["--piggyback"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout(&out).starts_with("MQTT-SCAN UNKNOWN - --piggyback is for --format checkmk"),
        "{}",
        stdout(&out)
    );
}
