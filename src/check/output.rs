//! The per-client formats of a verdict: the Nagios long output, Checkmk local checks and
//! Icinga passive results. Pure: they read the verdict (its `checked_at` is "now").
//!
//! Every name that reaches a line is escaped for the place it lands in: no control
//! characters anywhere, no `|` in Nagios output (it starts the perfdata on every line), no
//! `"` in a Checkmk service name (it would end the name), no `<`/`>`/whitespace in a
//! piggyback host, no `;` in an Icinga external command (it separates the fields).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{safe, Client, Kind, Verdict};

/// The long output's length at most, the "... and N more" line included: a fleet of 10,000
/// must not make a 10,000-line alert (problems come first, so the cut drops the healthy).
pub const LONG_LINES: usize = 50;

/// How the per-client services are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// Put before a client's name (`--service-prefix`, default `MQTT `).
    pub prefix: String,
    /// Checkmk: each client's service in a piggyback section of its own host.
    pub piggyback: bool,
    /// Icinga: the host of every service (`--host-name`); None: the client's own name.
    pub host: Option<String>,
}

impl Default for Services {
    fn default() -> Self {
        Self {
            prefix: crate::cli::DEFAULT_SERVICE_PREFIX.to_owned(),
            piggyback: false,
            host: None,
        }
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => format!(
            "since {} ({})",
            stamp(t),
            human((now - t).to_std().unwrap_or_default())
        ),
        None => "since unknown".to_owned(),
    }
}

/// A payload shown in a line: escaped, and cut so one odd client cannot fill the screen.
fn payload_shown(p: &str) -> String {
    const MAX: usize = 64;
    let mut s: String = p.chars().take(MAX).collect();
    if p.chars().count() > MAX {
        s.push('…');
    }
    safe(&s)
}

/// What a client's line says after its name: one line, escaped, no `|`.
pub fn describe(c: &Client, v: &Verdict) -> String {
    let now = v.checked_at;
    let word = match c.kind {
        Kind::Online => "online",
        Kind::Offline => "offline",
        Kind::Missing => "missing",
        Kind::Stale => "stale",
        Kind::Unknown => "unknown",
    };
    if c.forgiven {
        let g = v.thresholds.grace.map(human).unwrap_or_default();
        return format!("{word}, forgiven by --grace {g} ({})", since(c.since, now));
    }
    match c.kind {
        Kind::Online if c.since.is_none() => "online".to_owned(),
        Kind::Online | Kind::Offline => format!("{word} {}", since(c.since, now)),
        Kind::Missing => "missing (expected, no status)".to_owned(),
        Kind::Stale => format!(
            "stale (last status {}, older than --max-age {})",
            c.last_status.map_or_else(|| "unknown".to_owned(), stamp),
            v.thresholds.max_age.map(human).unwrap_or_default()
        ),
        Kind::Unknown => match &c.payload {
            Some(p) => format!("unknown (payload \"{}\")", payload_shown(p)),
            None => "unknown".to_owned(),
        },
    }
}

/// A client's own state: OK, CRITICAL for offline, missing or stale (not forgiven),
/// UNKNOWN for a state nobody can read.
pub fn client_code(c: &Client) -> u8 {
    match c.kind {
        Kind::Unknown => 3,
        _ if c.is_down() => 2,
        _ => 0,
    }
}

/// Problems first, then unknown, forgiven, online; judging order (by name) within each.
fn ranked(v: &Verdict) -> Vec<&Client> {
    let rank = |c: &Client| match c.kind {
        _ if c.is_down() => 0,
        Kind::Unknown => 1,
        _ if c.forgiven => 2,
        _ => 3,
    };
    let mut all: Vec<&Client> = v.clients.iter().collect();
    all.sort_by_key(|c| rank(c));
    all
}

/// The Nagios long output: one line per judged client, problems first, at most
/// [`LONG_LINES`] lines with an "... and N more" at the end.
pub fn long_output(v: &Verdict) -> Vec<String> {
    let all = ranked(v);
    let shown = if all.len() > LONG_LINES {
        LONG_LINES - 1
    } else {
        all.len()
    };
    let mut lines: Vec<String> = all[..shown]
        .iter()
        .map(|c| format!("{}: {}", safe(&c.name), describe(c, v)))
        .collect();
    if all.len() > shown {
        lines.push(format!("... and {} more", all.len() - shown));
    }
    lines
}

/// One service name per client (in `v.clients` order), unique: a name that collides after
/// escaping, or with the fleet service, gets ` (2)`, ` (3)`, ...
fn service_names(v: &Verdict, prefix: &str, clean: impl Fn(&str) -> String) -> Vec<String> {
    unique(
        v.clients
            .iter()
            .map(|c| clean(&format!("{prefix}{}", c.name))),
        clean(&format!("{prefix}fleet")),
    )
}

/// The names, each made unique with a ` (2)`, ` (3)`, ... suffix; `reserved` is taken.
fn unique(names: impl Iterator<Item = String>, reserved: String) -> Vec<String> {
    let mut used: HashSet<String> = HashSet::from([reserved]);
    names
        .map(|base| {
            let mut name = base.clone();
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{base} ({n})");
                n += 1;
            }
            name
        })
        .collect()
}

/// A name inside Checkmk's quotes: no control characters, no `"`.
fn cmk_name(s: &str) -> String {
    safe(s).replace('"', "'")
}

/// A piggyback host name: no `<`, `>`, whitespace or control characters.
pub fn piggyback_host(s: &str) -> String {
    let h: String = s
        .chars()
        .map(|c| {
            if c == '<' || c == '>' || c.is_whitespace() || crate::status::escape::is_unsafe(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    if h.is_empty() {
        "_".to_owned()
    } else {
        h
    }
}

/// The fleet service's metrics, Checkmk style (`online=2|offline=1|...`): values only, as
/// Nagios ranges in the warn/crit fields are not Checkmk's syntax.
fn cmk_metrics(perfdata: &str) -> String {
    let m: Vec<&str> = perfdata
        .split_whitespace()
        .map(|item| item.split(';').next().unwrap_or(item))
        .collect();
    if m.is_empty() {
        "-".to_owned()
    } else {
        m.join("|")
    }
}

/// The fleet's local-check line: `2 "MQTT fleet" online=2|... 1/3 offline: sensor2`.
pub fn checkmk_fleet(code: u8, prefix: &str, perfdata: &str, summary: &str) -> String {
    let summary = summary.replace(['\n', '\r'], " ");
    format!(
        "{code} \"{}\" {} {}",
        cmk_name(&format!("{prefix}fleet")),
        cmk_metrics(perfdata),
        safe(&summary)
    )
}

/// Checkmk local-check output: the fleet service, then one service per judged client
/// (each in a `<<<<host>>>>` piggyback section of its own with `piggyback`).
pub fn checkmk(v: &Verdict, opts: &Services) -> String {
    let mut out = checkmk_fleet(v.code, &opts.prefix, &v.perfdata, &v.summary);
    out.push('\n');
    let names = service_names(v, &opts.prefix, cmk_name);
    for (c, name) in v.clients.iter().zip(names) {
        let metrics = c
            .changes
            .map_or_else(|| "-".to_owned(), |n| format!("changes={n}"));
        let line = format!("{} \"{name}\" {metrics} {}", client_code(c), describe(c, v));
        if opts.piggyback {
            let _ = write!(
                out,
                "<<<<{}>>>>\n<<<local:sep(0)>>>\n{line}\n<<<<>>>>\n",
                piggyback_host(&c.name)
            );
        } else {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// A field of an Icinga/Nagios external command: no `;`, no control characters.
fn icinga_field(s: &str) -> String {
    safe(s).replace(';', "\\x3b")
}

/// `[<unix time>] PROCESS_SERVICE_CHECK_RESULT;<host>;<service>;<code>;<output>`, one per
/// judged client: on `opts.host` as `<prefix><client>`, or without a host on the client's
/// own host as `<prefix>status`.
pub fn icinga_passive(v: &Verdict, opts: &Services) -> String {
    let t = v.checked_at.timestamp();
    // Each branch escapes and deduplicates only what it names.
    let (hosts, services): (Vec<String>, Vec<String>) = if let Some(h) = &opts.host {
        let names = service_names(v, &opts.prefix, icinga_field);
        (vec![icinga_field(h); names.len()], names)
    } else {
        // Per-client hosts must be unique too: two names that escape alike get a suffix.
        let hosts = unique(
            v.clients.iter().map(|c| icinga_field(&c.name)),
            String::new(),
        );
        let status = icinga_field(&format!("{}status", opts.prefix));
        (hosts, vec![status; v.clients.len()])
    };
    let mut out = String::new();
    for ((c, host), service) in v.clients.iter().zip(hosts).zip(services) {
        let _ = writeln!(
            out,
            "[{t}] PROCESS_SERVICE_CHECK_RESULT;{host};{service};{};{}",
            client_code(c),
            icinga_field(&format!("{}: {}", c.name, describe(c, v)))
        );
    }
    out
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
