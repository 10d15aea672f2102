//! The default human table, with a summary line under it.

use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::{DateTime, Utc};
use tabled::builder::Builder;
use tabled::settings::{Padding, Style};

use super::Scan;
use crate::status::{escape, Row, State};

const DETAIL_WIDTH: usize = 24;
/// Names and topics longer than this are shortened in the middle: every row is padded to
/// the widest cell of its column, so one 16 KiB name would make each row 16 KiB wide
/// (10,000 rows: 160 MB of spaces). JSON and CSV keep them whole.
const NAME_WIDTH: usize = 64;
const TOPIC_WIDTH: usize = 96;

pub struct Options {
    pub color: bool,
    pub now: DateTime<Utc>,
    /// A SOURCE column: which convention each row came from (when presets are in use).
    pub source: bool,
}

/// `45s`, `12m`, `3h 12m`, `2d 4h`: how long a state has held, at a glance.
pub fn age(from: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - from).num_seconds();
    match s {
        ..0 => "-".into(),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// Keeps the start and the end (where names usually differ), with `…` between.
fn clip_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    let tail = (max - 1) / 3;
    let head = max - 1 - tail;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

pub fn state_cell(state: State, color: bool) -> String {
    if !color {
        return state.as_str().to_owned();
    }
    let code = match state {
        State::Online => "32",
        State::Offline => "31",
        State::Unknown => "33",
    };
    format!("\x1b[{code}m{state}\x1b[0m")
}

fn cells(r: &Row, opts: &Options) -> Vec<String> {
    let (since, held) = match r.since {
        Some(t) => (t.format("%Y-%m-%d %H:%M:%SZ").to_string(), age(t, opts.now)),
        // A retained status without a timestamp: set before we looked, time unknown.
        None if r.retained => ("retained".into(), "-".into()),
        None => ("-".into(), "-".into()),
    };
    let detail = r.detail_text().unwrap_or(std::borrow::Cow::Borrowed("-"));
    let mut cells = vec![
        clip_middle(&escape(&r.name), NAME_WIDTH),
        state_cell(r.state, opts.color),
        clip(&escape(&detail), DETAIL_WIDTH),
        since,
        held,
        r.ip()
            .map_or_else(|| "-".into(), |ip| clip(&escape(ip), 40)),
        clip_middle(&escape(&r.topic), TOPIC_WIDTH),
    ];
    if opts.source {
        cells.push(r.source.to_string());
    }
    cells
}

/// `client` or `clients`.
pub fn clients(n: usize) -> &'static str {
    if n == 1 {
        "client"
    } else {
        "clients"
    }
}

pub fn summary_line(scan: &Scan<'_>) -> String {
    let s = scan.summary;
    let mut line = format!(
        "{} {}: {} online, {} offline, {} unknown",
        s.total,
        clients(s.total),
        s.online,
        s.offline,
        s.unknown
    );
    if scan.clients.len() != s.total {
        let _ = write!(line, " (showing {})", scan.clients.len());
    }
    line
}

pub fn write<W: Write>(scan: &Scan<'_>, opts: &Options, mut w: W) -> io::Result<()> {
    if !scan.clients.is_empty() {
        let mut b = Builder::with_capacity(scan.clients.len() + 1, 8);
        let mut header = vec!["NAME", "STATE", "DETAIL", "SINCE", "FOR", "IP", "TOPIC"];
        if opts.source {
            header.push("SOURCE");
        }
        b.push_record(header);
        for r in &scan.clients {
            b.push_record(cells(r, opts));
        }
        let mut table = b.build();
        table.with(Style::empty()).with(Padding::new(0, 3, 0, 0));
        for line in table.to_string().lines() {
            writeln!(w, "{}", line.trim_end())?;
        }
    }
    writeln!(w, "{}", summary_line(scan))
}

#[cfg(test)]
mod tests {
    use super::clip_middle;

    #[test]
    fn long_cells_keep_their_start_and_end() {
        assert_eq!(clip_middle("short", 64), "short");
        let long = format!("start-{}-end42", "x".repeat(10_000));
        let clipped = clip_middle(&long, 64);
        assert_eq!(clipped.chars().count(), 64);
        assert!(clipped.starts_with("start-") && clipped.ends_with("-end42"));
        assert!(clipped.contains('…'));
    }
}
