//! `check`'s verdict, in the monitoring-plugin format: pure (time is a parameter), so every
//! rule is unit-tested without a broker.

use std::collections::{BTreeMap, BTreeSet};
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
    /// `-w/--warning`, `-c/--critical`: Nagios ranges on the offline count.
    pub warning: Option<Range>,
    pub critical: Option<Range>,
    pub min_online: Option<usize>,
    #[serde(serialize_with = "secs")]
    pub max_age: Option<Duration>,
    #[serde(serialize_with = "secs")]
    pub grace: Option<Duration>,
    /// The filters subscribed, named when nothing matched them.
    #[serde(skip)]
    pub topics: Vec<String>,
}

/// A threshold range in the Monitoring Plugins syntax
/// (<https://nagios-plugins.org/doc/guidelines.html#THRESHOLDFORMAT>): `10` (alert above
/// 10), `10:` (below 10), `~:10` (above 10), `10:20` (outside 10..20), `@10:20` (inside
/// 10..20, inclusive). Kept as written, for perfdata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// None: minus infinity (`~`).
    start: Option<i64>,
    /// None: infinity.
    end: Option<i64>,
    inside: bool,
    text: String,
}

impl Range {
    /// Parses a range; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (inside, body) = match t.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let number = |s: &str| -> Result<i64, String> {
            s.parse::<i64>().map_err(|_| {
                format!("'{s}' is not a whole number (ranges: 10, 10:, ~:10, 10:20, @10:20)")
            })
        };
        let (start, end) = match body.split_once(':') {
            Some((lo, hi)) => {
                let start = match lo {
                    "~" => None,
                    "" => Some(0),
                    n => Some(number(n)?),
                };
                let end = if hi.is_empty() {
                    None
                } else {
                    Some(number(hi)?)
                };
                (start, end)
            }
            None if body.is_empty() => {
                return Err("empty range (ranges: 10, 10:, ~:10, 10:20, @10:20)".into())
            }
            None => (Some(0), Some(number(body)?)),
        };
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(format!("range {t}: the start is above the end"));
            }
        }
        Ok(Self {
            start,
            end,
            inside,
            text: t.to_owned(),
        })
    }

    /// Whether `value` raises the alert: outside the range (or inside, with `@`).
    pub fn alerts(&self, value: usize) -> bool {
        let v = i64::try_from(value).unwrap_or(i64::MAX);
        let within = self.start.is_none_or(|s| v >= s) && self.end.is_none_or(|e| v <= e);
        within == self.inside
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for Range {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// What earlier runs saw (`--state-file`): when each judged client was first seen offline
/// (None: it was already offline, since an unknown time, when first seen), and which were
/// online.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub first_offline: BTreeMap<String, Option<DateTime<Utc>>>,
    #[serde(default)]
    pub online: BTreeSet<String>,
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
    /// What the next run needs to know (`--state-file`).
    #[serde(skip)]
    pub memory: Memory,
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

/// Since when a client judged offline has been offline, as far as anyone can tell: what an
/// earlier run remembered, else now if an earlier run saw it online, else the row's own
/// time (a payload timestamp, or a change this process saw). None: unknown, because the
/// status was retained without a time (a Will from long ago looks the same as one from a
/// second ago), or the client is missing and no run has seen it. An unknown time is never
/// forgiven by `--grace`: only an outage known to be shorter is.
fn offline_since(
    name: &str,
    row: Option<&Row>,
    kind: Kind,
    max_age: Option<Duration>,
    remembered: &Memory,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if let Some(first) = remembered.first_offline.get(name) {
        return first.map(|t| t.min(now));
    }
    if remembered.online.contains(name) {
        return Some(now);
    }
    let row = row?;
    let since = match kind {
        Kind::Stale => {
            let age = chrono::Duration::from_std(max_age?).ok()?;
            row.payload_ts()?.checked_add_signed(age)?
        }
        _ => row.since?,
    };
    Some(since.min(now))
}

/// Judges the table. `remembered`: what earlier runs saw (`--state-file`).
pub fn judge(
    registry: &Registry,
    rules: &Rules,
    remembered: &Memory,
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
            topics: Vec::new(),
            ..rules.clone()
        },
        perfdata: String::new(),
        memory: Memory::default(),
    };
    let mut shown: Vec<String> = Vec::new();
    for (name, row) in judged {
        let k = kind(row, rules.max_age, now);
        match k {
            Kind::Online => drop(v.memory.online.insert(name)),
            Kind::Unknown => v.unknown.push(name),
            Kind::Offline | Kind::Missing | Kind::Stale => {
                let first = offline_since(&name, row, k, rules.max_age, remembered, now);
                v.memory.first_offline.insert(name.clone(), first);
                let down_for = first.map(|t| (now - t).to_std().unwrap_or_default());
                if rules.grace.is_some_and(|g| down_for.is_some_and(|d| d < g)) {
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
    // Names are unique (expected ones are deduplicated), so the set counts them.
    v.online = v.memory.online.len();
    let n_off = v.offline.len();
    let too_few = rules.min_online.is_some_and(|m| v.online < m);
    // Nobody expected and nothing matched: "OK" would hide a mistyped topic.
    let nothing = rules.expected.is_none() && v.total == 0;
    v.status = status_of(rules, n_off, too_few, nothing);
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
    if nothing {
        nothing_to_judge(&mut v.summary, &rules.topics);
    }
    v.perfdata = perfdata(&v, rules);
    v
}

/// The verdict: CRITICAL before UNKNOWN (an empty fleet under `--min-online` is a breach),
/// UNKNOWN before WARNING (nothing was judged).
fn status_of(rules: &Rules, n_off: usize, too_few: bool, nothing: bool) -> Status {
    if too_few
        || rules.crit_offline.is_some_and(|c| n_off >= c)
        || rules.critical.as_ref().is_some_and(|r| r.alerts(n_off))
    {
        Status::Critical
    } else if nothing {
        Status::Unknown
    } else if rules.warn_offline.is_some_and(|w| n_off >= w)
        || rules.warning.as_ref().is_some_and(|r| r.alerts(n_off))
    {
        Status::Warning
    } else {
        Status::Ok
    }
}

/// Why an empty verdict is UNKNOWN: the topics that matched nothing, and what to try.
fn nothing_to_judge(summary: &mut String, topics: &[String]) {
    let _ = write!(
        summary,
        "; no client status on the topics subscribed ({}): nothing to judge",
        topics
            .iter()
            .map(|t| safe(t))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match topics.iter().find(|t| looks_like_a_duration(t)) {
        Some(t) => {
            let _ = write!(
                summary,
                "; note: -t is --topic here (as in mosquitto_sub), so -t {0} subscribed to the topic '{0}': for a time limit use --timeout {0}{1}",
                safe(t),
                if t.bytes().all(|b| b.is_ascii_digit()) { "s" } else { "" }
            );
        }
        None => summary
            .push_str("; check -t/--preset (mqtt-scan list -t '#' shows what the broker holds)"),
    }
}

/// `10`, `30s`, `1m`: a topic that was probably meant as a Nagios-style timeout.
fn looks_like_a_duration(topic: &str) -> bool {
    topic.starts_with(|c: char| c.is_ascii_digit())
        && (topic.bytes().all(|b| b.is_ascii_digit()) || humantime::parse_duration(topic).is_ok())
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
        rules
            .warning
            .as_ref()
            .map_or_else(|| opt(rules.warn_offline), |r| r.as_str().to_owned()),
        rules
            .critical
            .as_ref()
            .map_or_else(|| opt(rules.crit_offline), |r| r.as_str().to_owned()),
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

/// `--state-file`: what earlier runs saw, across runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    /// Format version; a file without it is not ours.
    pub mqtt_scan_state: u32,
    #[serde(flatten)]
    pub memory: Memory,
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

    fn live(r: &mut Registry, name: &str, payload: &str, at: DateTime<Utc>) {
        r.fold(
            &Observation {
                topic: &format!("s/{name}"),
                payload: payload.as_bytes(),
                retained: false,
            },
            at,
        );
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
        live(&mut r, "fresh", "0", t(1));
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
        let ok = StateFile::parse(
            r#"{"mqtt_scan_state":1,"first_offline":{"a":"2026-11-21T10:00:01Z"}}"#,
        )
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
}
