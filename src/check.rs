//! `check`'s verdict, in the monitoring-plugin format: pure (time is a parameter), so every
//! rule is unit-tested without a broker.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::status::{escape, Registry, Row, SortKey, State};

/// The monitoring verdict; its code is the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// What the check judges and when it complains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rules {
    /// Only these clients are judged (`--expect`, `--expect-file`); None: every row.
    #[serde(skip)]
    pub expected: Option<Vec<String>>,
    pub warn_offline: Option<usize>,
    pub crit_offline: Option<usize>,
    pub min_online: Option<usize>,
    #[serde(serialize_with = "secs")]
    pub max_age: Option<Duration>,
    #[serde(serialize_with = "secs")]
    pub grace: Option<Duration>,
}

#[allow(clippy::ref_option)]
fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    d.map(|d| d.as_secs_f64()).serialize(s)
}

/// How long the names list in the status line gets before "and N more".
const NAMES_SHOWN: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub status: Status,
    pub code: u8,
    pub checked_at: DateTime<Utc>,
    /// The status line between `MQTT-SCAN STATUS - ` and ` | `.
    pub summary: String,
    pub total: usize,
    pub online: usize,
    /// Judged offline: offline, missing or stale, and not forgiven.
    pub offline: Vec<String>,
    pub missing: Vec<String>,
    pub stale: Vec<String>,
    pub unknown: Vec<String>,
    /// Offline for less than `--grace`: named, not counted.
    pub forgiven: Vec<String>,
    pub thresholds: Rules,
    pub perfdata: String,
    /// When each offline client was first seen offline: the next run's memory.
    #[serde(skip)]
    pub first_offline: BTreeMap<String, DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Online,
    Offline,
    Missing,
    Stale,
    Unknown,
}

fn kind(row: Option<&Row>, max_age: Option<Duration>, now: DateTime<Utc>) -> Kind {
    let Some(r) = row else { return Kind::Missing };
    if r.state == State::Offline {
        return Kind::Offline;
    }
    let too_old = |ts: DateTime<Utc>| {
        (now - ts)
            .to_std()
            .is_ok_and(|age| max_age.is_some_and(|m| age > m))
    };
    if r.payload_ts().is_some_and(too_old) {
        return Kind::Stale;
    }
    match r.state {
        State::Online => Kind::Online,
        _ => Kind::Unknown,
    }
}

/// Judges the table. `remembered`: when clients were first seen offline by earlier runs.
pub fn judge(
    registry: &Registry,
    rules: &Rules,
    remembered: &BTreeMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Verdict {
    let judged: Vec<(String, Option<&Row>)> = match &rules.expected {
        Some(names) => names.iter().map(|n| (n.clone(), registry.get(n))).collect(),
        None => registry
            .rows(SortKey::Name, None)
            .into_iter()
            .map(|r| (r.name.to_string(), Some(r)))
            .collect(),
    };
    let mut v = Verdict {
        status: Status::Ok,
        code: 0,
        checked_at: now,
        summary: String::new(),
        total: judged.len(),
        online: 0,
        offline: Vec::new(),
        missing: Vec::new(),
        stale: Vec::new(),
        unknown: Vec::new(),
        forgiven: Vec::new(),
        thresholds: Rules {
            expected: None,
            ..rules.clone()
        },
        perfdata: String::new(),
        first_offline: BTreeMap::new(),
    };
    let mut shown: Vec<String> = Vec::new();
    for (name, row) in judged {
        let k = kind(row, rules.max_age, now);
        match k {
            Kind::Online => v.online += 1,
            Kind::Unknown => v.unknown.push(name),
            Kind::Offline | Kind::Missing | Kind::Stale => {
                let first = remembered.get(&name).copied().unwrap_or(now).min(now);
                v.first_offline.insert(name.clone(), first);
                let down_for = (now - first).to_std().unwrap_or_default();
                if rules.grace.is_some_and(|g| down_for < g) {
                    v.forgiven.push(name);
                    continue;
                }
                let label = match k {
                    Kind::Missing => format!("{} (missing)", safe(&name)),
                    Kind::Stale => format!("{} (stale)", safe(&name)),
                    _ => safe(&name),
                };
                shown.push(label);
                match k {
                    Kind::Missing => v.missing.push(name.clone()),
                    Kind::Stale => v.stale.push(name.clone()),
                    _ => {}
                }
                v.offline.push(name);
            }
        }
    }
    let n_off = v.offline.len();
    let too_few = rules.min_online.is_some_and(|m| v.online < m);
    v.status = if too_few || rules.crit_offline.is_some_and(|c| n_off >= c) {
        Status::Critical
    } else if rules.warn_offline.is_some_and(|w| n_off >= w) {
        Status::Warning
    } else {
        Status::Ok
    };
    v.code = v.status.code();
    let what = if rules.expected.is_some() {
        "expected offline"
    } else {
        "offline"
    };
    v.summary = format!("{n_off}/{} {what}", v.total);
    if !shown.is_empty() {
        v.summary.push_str(": ");
        v.summary
            .push_str(&shown[..shown.len().min(NAMES_SHOWN)].join(", "));
        if shown.len() > NAMES_SHOWN {
            let _ = write!(v.summary, " and {} more", shown.len() - NAMES_SHOWN);
        }
    }
    if let (true, Some(m)) = (too_few, rules.min_online) {
        let _ = write!(v.summary, "; {} online, fewer than {m}", v.online);
    }
    if let (false, Some(g)) = (v.forgiven.is_empty(), rules.grace) {
        let _ = write!(
            v.summary,
            "; {} forgiven (offline less than {}): {}",
            v.forgiven.len(),
            humantime::format_duration(g),
            v.forgiven
                .iter()
                .take(NAMES_SHOWN)
                .map(|n| safe(n))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    v.perfdata = perfdata(&v, rules);
    v
}

/// A name as it may appear in a status line: no control characters, and no `|` (it would
/// start the perfdata).
fn safe(name: &str) -> String {
    escape(name).replace('|', "\\x7c")
}

/// `label=value;warn;crit;min`, as the Monitoring Plugins guidelines have it.
fn perfdata(v: &Verdict, rules: &Rules) -> String {
    let opt = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
    let mut p = format!(
        "online={};;{};0 offline={};{};{};0 missing={};;;0 stale={};;;0 unknown={};;;0",
        v.online,
        rules
            .min_online
            .map(|m| format!("{m}:"))
            .unwrap_or_default(),
        v.offline.len(),
        opt(rules.warn_offline),
        opt(rules.crit_offline),
        v.missing.len(),
        v.stale.len(),
        v.unknown.len(),
    );
    if rules.grace.is_some() {
        let _ = write!(p, " forgiven={};;;0", v.forgiven.len());
    }
    let _ = write!(p, " total={};;;0", v.total);
    p
}

/// The plugin output line: `MQTT-SCAN CRITICAL - 1/3 expected offline: sensor2 | online=2;;;0 ...`.
pub fn line(status: Status, summary: &str, perfdata: &str) -> String {
    let summary = summary.replace(['\n', '\r'], " ").replace('|', "\\x7c");
    if perfdata.is_empty() {
        format!("MQTT-SCAN {} - {summary}", status.as_str())
    } else {
        format!("MQTT-SCAN {} - {summary} | {perfdata}", status.as_str())
    }
}

/// `--state-file`: when each client was first seen offline, across runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    /// Format version; a file without it is not ours.
    pub mqtt_scan_state: u32,
    pub first_offline: BTreeMap<String, DateTime<Utc>>,
}

pub const STATE_VERSION: u32 = 1;

impl StateFile {
    /// Reads a state file's text; an error says why it is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let state: Self = serde_json::from_str(text).map_err(|e| {
            if e.is_data() {
                "not an mqtt-scan state file".to_owned()
            } else {
                format!("not an mqtt-scan state file (corrupt: {e})")
            }
        })?;
        if state.mqtt_scan_state != STATE_VERSION {
            return Err(format!(
                "state file version {} is not the version {STATE_VERSION} this mqtt-scan writes",
                state.mqtt_scan_state
            ));
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::status::{Observation, Pattern, Source, Vocabulary};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_255_201 + s, 0).unwrap()
    }

    fn fleet(statuses: &[(&str, &str)]) -> Registry {
        let mut r = Registry::new(
            vec![Source::topic(Pattern::parse("s/#").unwrap())],
            Vocabulary::default(),
        );
        for (name, payload) in statuses {
            r.fold(
                &Observation {
                    topic: &format!("s/{name}"),
                    payload: payload.as_bytes(),
                    retained: true,
                },
                t(0),
            );
        }
        r
    }

    fn expect(names: &[&str]) -> Vec<String> {
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
        let v = judge(&r, &rules, &BTreeMap::new(), t(10));
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
        let v = judge(&r, &rules, &BTreeMap::new(), t(1));
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
            judge(&r, &rules, &BTreeMap::new(), t(1)).status
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
        let v = judge(&r, &rules, &BTreeMap::new(), t(1));
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
        let v = judge(&r, &rules, &BTreeMap::new(), t(60));
        assert_eq!(v.stale, ["old"]);
        assert_eq!(v.online, 2, "a row without a time is never stale");
        assert_eq!(v.summary, "1/3 offline: old (stale)");
        assert_eq!(v.status, Status::Warning);
    }

    #[test]
    fn grace_forgives_until_offline_that_long() {
        let r = fleet(&[("a", "0"), ("b", "1")]);
        let rules = Rules {
            expected: Some(expect(&["a", "b"])),
            warn_offline: Some(1),
            grace: Some(Duration::from_secs(300)),
            ..Rules::default()
        };
        let first = judge(&r, &rules, &BTreeMap::new(), t(0));
        assert_eq!(
            (first.status, first.forgiven.clone()),
            (Status::Ok, vec!["a".to_owned()])
        );
        assert!(first.perfdata.contains(" forgiven=1;;;0 "));
        assert_eq!(first.first_offline.get("a"), Some(&t(0)));
        let later = judge(&r, &rules, &first.first_offline, t(299));
        assert_eq!(later.status, Status::Ok);
        let late = judge(&r, &rules, &later.first_offline, t(300));
        assert_eq!(late.status, Status::Warning);
        assert_eq!(
            late.first_offline.get("a"),
            Some(&t(0)),
            "the first sighting is kept"
        );
        // Back online: forgotten.
        let r = fleet(&[("a", "1"), ("b", "1")]);
        assert!(judge(&r, &rules, &late.first_offline, t(400))
            .first_offline
            .is_empty());
    }

    #[test]
    fn many_names_are_cut_short_and_hostile_names_cannot_break_the_line() {
        let names: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
        let statuses: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "0")).collect();
        let v = judge(&fleet(&statuses), &Rules::default(), &BTreeMap::new(), t(0));
        assert_eq!(v.summary, "8/8 offline: n0, n1, n2, n3, n4 and 3 more");
        let v = judge(
            &fleet(&[("x|y\x1b", "0")]),
            &Rules::default(),
            &BTreeMap::new(),
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
        let ok = StateFile::parse(
            r#"{"mqtt_scan_state":1,"first_offline":{"a":"2026-11-21T10:00:01Z"}}"#,
        )
        .unwrap();
        assert_eq!(ok.first_offline.get("a"), Some(&t(0)));
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
}
