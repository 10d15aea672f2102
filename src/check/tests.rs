//! The verdict, rule by rule.

use chrono::TimeZone;

use super::*;
use crate::status::{Observation, Pattern, Source, Vocabulary};

pub(super) fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_255_201 + s, 0).unwrap()
}

/// A table of the clients under `s/{name}`.
pub(super) fn registry() -> Registry {
    Registry::new(
        vec![Source::topic(Pattern::parse("s/#").unwrap())],
        Vocabulary::default(),
    )
}

pub(super) fn fold(r: &mut Registry, name: &str, payload: &str, retained: bool, at: DateTime<Utc>) {
    r.fold(
        &Observation {
            topic: &format!("s/{name}"),
            payload: payload.as_bytes(),
            retained,
        },
        at,
    );
}

/// Retained statuses, received at t(0).
fn fleet(statuses: &[(&str, &str)]) -> Registry {
    let mut r = registry();
    for (name, payload) in statuses {
        fold(&mut r, name, payload, true, t(0));
    }
    r
}

pub(super) fn expect(names: &[&str]) -> Vec<String> {
    names.iter().map(ToString::to_string).collect()
}

#[test]
fn the_spec_example() {
    let r = fleet(&[("sensor1", "1"), ("sensor2", "0"), ("sensor3", "1")]);
    let rules = Rules {
        expected: Some(expect(&["sensor1", "sensor2", "sensor3"])),
        warn_offline: Some(1),
        crit_offline: Some(1),
        ..Rules::default()
    };
    let v = judge(&r, &rules, &Memory::default(), t(10));
    assert_eq!(
        line(v.status, &v.summary, &v.perfdata),
        "MQTT-SCAN CRITICAL - 1/3 expected offline: sensor2 | online=2;;;0 offline=1;1;1;0 missing=0;;;0 stale=0;;;0 unknown=0;;;0 total=3;;;0"
    );
}

#[test]
fn missing_expected_clients_count_as_offline_and_only_expected_are_judged() {
    let r = fleet(&[("a", "1"), ("b", "1"), ("stranger", "0")]);
    let rules = Rules {
        expected: Some(expect(&["a", "b", "ghost"])),
        warn_offline: Some(1),
        ..Rules::default()
    };
    let v = judge(&r, &rules, &Memory::default(), t(1));
    assert_eq!(v.status, Status::Warning);
    assert_eq!((v.total, v.online), (3, 2));
    assert_eq!(v.summary, "1/3 expected offline: ghost (missing)");
    assert_eq!(v.missing, ["ghost"]);
}

#[test]
fn thresholds_trigger_at_greater_or_equal() {
    let r = fleet(&[("a", "0"), ("b", "0"), ("c", "1")]);
    let status = |warn, crit| {
        let rules = Rules {
            warn_offline: warn,
            crit_offline: crit,
            ..Rules::default()
        };
        judge(&r, &rules, &Memory::default(), t(1)).status
    };
    assert_eq!(
        status(None, None),
        Status::Ok,
        "no thresholds without --expect"
    );
    assert_eq!(status(Some(3), None), Status::Ok);
    assert_eq!(status(Some(2), None), Status::Warning);
    assert_eq!(status(Some(1), Some(2)), Status::Critical);
    assert_eq!(status(Some(1), Some(3)), Status::Warning);
}

#[test]
fn min_online_breach_is_critical_with_a_range_in_perfdata() {
    let r = fleet(&[("a", "1"), ("b", "0")]);
    let rules = Rules {
        min_online: Some(2),
        ..Rules::default()
    };
    let v = judge(&r, &rules, &Memory::default(), t(1));
    assert_eq!(v.status, Status::Critical);
    assert!(
        v.summary.ends_with("; 1 online, fewer than 2"),
        "{}",
        v.summary
    );
    assert!(v.perfdata.starts_with("online=1;;2:;0 "), "{}", v.perfdata);
}

#[test]
fn max_age_makes_old_payload_times_stale_and_offline() {
    let r = fleet(&[
        ("fresh", r#"{"status":1,"ts":1795255201}"#),
        ("old", r#"{"status":1,"ts":1795251601}"#),
        ("no-time", "1"),
    ]);
    let rules = Rules {
        max_age: Some(Duration::from_secs(600)),
        warn_offline: Some(1),
        ..Rules::default()
    };
    let v = judge(&r, &rules, &Memory::default(), t(60));
    assert_eq!(v.stale, ["old"]);
    assert_eq!(v.online, 2, "a row without a time is never stale");
    assert_eq!(v.summary, "1/3 offline: old (stale)");
    assert_eq!(v.status, Status::Warning);
}

#[test]
fn grace_forgives_until_offline_that_long() {
    let rules = Rules {
        expected: Some(expect(&["a", "b"])),
        warn_offline: Some(1),
        grace: Some(Duration::from_secs(300)),
        ..Rules::default()
    };
    // A run sees `a` online; by the next one it went offline (its Will, retained, no time).
    let online = judge(
        &fleet(&[("a", "1"), ("b", "1")]),
        &rules,
        &Memory::default(),
        t(0),
    );
    assert!(online.memory.online.contains("a"));
    let r = fleet(&[("a", "0"), ("b", "1")]);
    let first = judge(&r, &rules, &online.memory, t(60));
    assert_eq!(
        (first.status, first.forgiven.clone()),
        (Status::Ok, vec!["a".to_owned()])
    );
    assert!(first.perfdata.contains(" forgiven=1;;;0 "));
    assert_eq!(first.memory.first_offline.get("a"), Some(&Some(t(60))));
    let later = judge(&r, &rules, &first.memory, t(359));
    assert_eq!(later.status, Status::Ok);
    let late = judge(&r, &rules, &later.memory, t(360));
    assert_eq!(late.status, Status::Warning);
    assert_eq!(
        late.memory.first_offline.get("a"),
        Some(&Some(t(60))),
        "the first sighting is kept"
    );
    // Back online: forgotten.
    let r = fleet(&[("a", "1"), ("b", "1")]);
    assert!(judge(&r, &rules, &late.memory, t(400))
        .memory
        .first_offline
        .is_empty());
}

#[test]
fn grace_never_forgives_an_offline_status_of_unknown_age() {
    let rules = Rules {
        expected: Some(expect(&["old", "ghost", "fresh", "stamped"])),
        warn_offline: Some(1),
        grace: Some(Duration::from_secs(300)),
        ..Rules::default()
    };
    // First run, no memory: `old` is a retained offline without a time (its Will may be a
    // year old), `ghost` has no status at all; `fresh` went offline while we looked;
    // `stamped` says when it went offline.
    let mut r = fleet(&[
        ("old", "0"),
        ("fresh", "1"),
        ("stamped", r#"{"status":0,"ts":1795255141}"#),
    ]);
    fold(&mut r, "fresh", "0", false, t(1));
    let v = judge(&r, &rules, &Memory::default(), t(2));
    assert_eq!(v.forgiven, ["fresh", "stamped"]);
    assert_eq!(v.offline, ["old", "ghost"]);
    assert_eq!(v.status, Status::Warning);
    assert_eq!(v.memory.first_offline.get("old"), Some(&None));
    assert_eq!(v.memory.first_offline.get("stamped"), Some(&Some(t(-60))));
    // Remembered as "offline since before we looked": still not forgiven later.
    let again = judge(&r, &rules, &v.memory, t(10));
    assert_eq!(again.offline, ["old", "ghost"]);
}

#[test]
fn nagios_ranges() {
    let alerts = |range: &str, v: usize| Range::parse(range).unwrap().alerts(v);
    assert!(!alerts("10", 10) && alerts("10", 11));
    assert!(alerts("10:", 9) && !alerts("10:", 10) && !alerts("10:", 1000));
    assert!(!alerts("~:10", 0) && alerts("~:10", 11));
    assert!(alerts("10:20", 9) && !alerts("10:20", 15) && alerts("10:20", 21));
    assert!(!alerts("@10:20", 9) && alerts("@10:20", 10) && alerts("@10:20", 20));
    assert!(!alerts("0", 0) && alerts("0", 1));
    for bad in ["", "x", "1.5", "20:10", "@", "1:2:3"] {
        assert!(Range::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn warning_and_critical_ranges_apply_to_the_offline_count() {
    let r = fleet(&[("a", "0"), ("b", "0"), ("c", "1")]);
    let status = |w: Option<&str>, c: Option<&str>| {
        let rules = Rules {
            warning: w.map(|w| Range::parse(w).unwrap()),
            critical: c.map(|c| Range::parse(c).unwrap()),
            ..Rules::default()
        };
        let v = judge(&r, &rules, &Memory::default(), t(1));
        (v.status, v.perfdata)
    };
    assert_eq!(status(Some("2"), None).0, Status::Ok);
    assert_eq!(status(Some("1"), None).0, Status::Warning);
    let (st, perf) = status(Some("0"), Some("1"));
    assert_eq!(st, Status::Critical);
    assert!(perf.contains(" offline=2;0;1;0 "), "{perf}");
    assert_eq!(status(None, Some("@2:5")).0, Status::Critical);
}

#[test]
fn nothing_to_judge_is_unknown_or_critical_with_min_online() {
    let empty = fleet(&[]);
    let rules = Rules {
        topics: vec!["sensors/conected/#".into()],
        ..Rules::default()
    };
    let v = judge(&empty, &rules, &Memory::default(), t(0));
    assert_eq!(v.status, Status::Unknown);
    assert_eq!(
        v.summary,
        "0/0 offline; no client status on the topics subscribed (sensors/conected/#): nothing to judge; check -t/--preset (mqtt-scan list -t '#' shows what the broker holds)"
    );
    let rules = Rules {
        topics: vec!["10".into()],
        min_online: Some(1),
        ..Rules::default()
    };
    let v = judge(&empty, &rules, &Memory::default(), t(0));
    assert_eq!(v.status, Status::Critical);
    assert!(v.summary.contains("-t is --topic here"), "{}", v.summary);
    assert!(v.summary.contains("use --timeout 10s"), "{}", v.summary);
    // Expected clients are judged even when nothing matched: they are missing.
    let rules = Rules {
        expected: Some(expect(&["a"])),
        warn_offline: Some(1),
        ..Rules::default()
    };
    assert_eq!(
        judge(&empty, &rules, &Memory::default(), t(0)).status,
        Status::Warning
    );
}

#[test]
fn many_names_are_cut_short_and_hostile_names_cannot_break_the_line() {
    let names: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
    let statuses: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "0")).collect();
    let v = judge(
        &fleet(&statuses),
        &Rules::default(),
        &Memory::default(),
        t(0),
    );
    assert_eq!(v.summary, "8/8 offline: n0, n1, n2, n3, n4 and 3 more");
    let v = judge(
        &fleet(&[("x|y\x1b", "0")]),
        &Rules::default(),
        &Memory::default(),
        t(0),
    );
    assert_eq!(v.summary, "1/1 offline: x\\x7cy\\x1b");
    assert_eq!(
        line(Status::Unknown, "a|b\nc", ""),
        "MQTT-SCAN UNKNOWN - a\\x7cb c"
    );
}

#[test]
fn state_files_are_recognised() {
    let ok =
        StateFile::parse(r#"{"mqtt_scan_state":1,"first_offline":{"a":"2026-11-21T10:00:01Z"}}"#)
            .unwrap();
    assert_eq!(ok.memory.first_offline.get("a"), Some(&Some(t(0))));
    assert!(
        ok.memory.online.is_empty(),
        "files before `online` still read"
    );
    assert!(StateFile::parse("{not json")
        .unwrap_err()
        .contains("corrupt"));
    assert_eq!(
        StateFile::parse(r#"{"foo":1}"#).unwrap_err(),
        "not an mqtt-scan state file"
    );
    assert!(
        StateFile::parse(r#"{"mqtt_scan_state":9,"first_offline":{}}"#)
            .unwrap_err()
            .contains("version 9")
    );
}
