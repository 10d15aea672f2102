//! `check`'s verdict, in the monitoring-plugin format: pure (time is a parameter), so every
//! rule is unit-tested without a broker.

mod output;
mod range;
mod state_file;
#[cfg(test)]
mod tests;

pub use output::{checkmk, checkmk_fleet, icinga_passive, long_output, Services, LONG_LINES};
pub use range::Range;
pub use state_file::{Memory, StateFile, STATE_VERSION};

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

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
    /// Every judged client, in judging order: the name lists above are drawn from it, the
    /// per-client formats read it.
    #[serde(skip)]
    pub clients: Vec<Client>,
}

/// One judged client, as the per-client formats show it (names raw: each format escapes).
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub name: String,
    pub kind: Kind,
    /// Online: since when (the row's own time). Offline, missing, stale: the outage's start
    /// as `--grace` judged it. None: unknown.
    pub since: Option<DateTime<Utc>>,
    /// The time the last payload carried (what made a stale client stale).
    pub last_status: Option<DateTime<Utc>>,
    /// An unknown client's payload (raw).
    pub payload: Option<String>,
    /// State changes seen; None for a missing client.
    pub changes: Option<u32>,
    /// Offline for less than `--grace`: reported, not counted.
    pub forgiven: bool,
}

impl Client {
    fn new(name: &str, row: Option<&Row>, kind: Kind) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            since: row.and_then(|r| r.since),
            last_status: row.and_then(Row::payload_ts),
            payload: (kind == Kind::Unknown)
                .then(|| row.map(|r| r.payload.to_text().into_owned()))
                .flatten(),
            changes: row.map(|r| r.changes),
            forgiven: false,
        }
    }

    /// Judged offline: offline, missing or stale, and not forgiven.
    fn is_down(&self) -> bool {
        !self.forgiven && matches!(self.kind, Kind::Offline | Kind::Missing | Kind::Stale)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
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
        clients: Vec::new(),
    };
    for (name, row) in judged {
        let k = kind(row, rules.max_age, now);
        let mut client = Client::new(&name, row, k);
        match k {
            Kind::Online => drop(v.memory.online.insert(name)),
            Kind::Unknown => {}
            Kind::Offline | Kind::Missing | Kind::Stale => {
                let first = offline_since(&name, row, k, rules.max_age, remembered, now);
                client.since = first;
                let down_for = first.map(|t| (now - t).to_std().unwrap_or_default());
                client.forgiven = rules.grace.is_some_and(|g| down_for.is_some_and(|d| d < g));
                v.memory.first_offline.insert(name, first);
            }
        }
        v.clients.push(client);
    }
    // The name lists are the clients, grouped (in judging order).
    let names = |keep: &dyn Fn(&Client) -> bool| -> Vec<String> {
        v.clients
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.name.clone())
            .collect()
    };
    v.offline = names(&Client::is_down);
    v.missing = names(&|c| c.is_down() && c.kind == Kind::Missing);
    v.stale = names(&|c| c.is_down() && c.kind == Kind::Stale);
    v.unknown = names(&|c| c.kind == Kind::Unknown);
    v.forgiven = names(&|c| c.forgiven);
    let shown: Vec<String> = v
        .clients
        .iter()
        .filter(|c| c.is_down())
        .map(|c| match c.kind {
            Kind::Missing => format!("{} (missing)", safe(&c.name)),
            Kind::Stale => format!("{} (stale)", safe(&c.name)),
            _ => safe(&c.name),
        })
        .collect();
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
        forgiven_note(&mut v.summary, &v.forgiven, g);
    }
    if nothing {
        nothing_to_judge(&mut v.summary, &rules.topics);
    }
    v.perfdata = perfdata(&v, rules);
    v
}

fn forgiven_note(summary: &mut String, forgiven: &[String], grace: Duration) {
    let _ = write!(
        summary,
        "; {} forgiven (offline less than {}): {}",
        forgiven.len(),
        humantime::format_duration(grace),
        forgiven
            .iter()
            .take(NAMES_SHOWN)
            .map(|n| safe(n))
            .collect::<Vec<_>>()
            .join(", ")
    );
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
