//! The default human table, with a summary line under it.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::{DateTime, Utc};

use super::Scan;
use crate::status::rfc3339::Rfc3339;
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

fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max || s.chars().count() <= max {
        Cow::Borrowed(s)
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        Cow::Owned(out)
    }
}

/// Keeps the start and the end (where names usually differ), with `…` between.
fn clip_middle(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let n = s.chars().count();
    if n <= max {
        return Cow::Borrowed(s);
    }
    let tail = (max - 1) / 3;
    let head = max - 1 - tail;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    Cow::Owned(out)
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

const HEADER: [&str; 8] = [
    "NAME", "STATE", "DETAIL", "SINCE", "FOR", "IP", "TOPIC", "SOURCE",
];
/// Spaces between columns.
const GAP: usize = 3;

/// A row's cells: borrowed where nothing needs escaping or clipping (nearly always), so a
/// million rows cost no allocation per cell. The state is kept apart: its colour codes take
/// no room on screen.
struct Cells<'a> {
    text: [Cow<'a, str>; 8],
    state: State,
}

fn cells<'a>(r: &'a Row, opts: &Options) -> Cells<'a> {
    let (since, held): (Cow<'_, str>, Cow<'_, str>) = match r.since {
        Some(t) => (
            Cow::Owned(Rfc3339::table(t).as_str().to_owned()),
            Cow::Owned(age(t, opts.now)),
        ),
        // A retained status without a timestamp: set before we looked, time unknown.
        None if r.retained => (Cow::Borrowed("retained"), Cow::Borrowed("-")),
        None => (Cow::Borrowed("-"), Cow::Borrowed("-")),
    };
    let detail = match r.detail_text() {
        Some(Cow::Borrowed(d)) => escaped(d, DETAIL_WIDTH, clip),
        Some(Cow::Owned(d)) => Cow::Owned(escaped(&d, DETAIL_WIDTH, clip).into_owned()),
        None => Cow::Borrowed("-"),
    };
    Cells {
        text: [
            escaped(&r.name, NAME_WIDTH, clip_middle),
            Cow::Borrowed(r.state.as_str()),
            detail,
            since,
            held,
            r.ip()
                .map_or(Cow::Borrowed("-"), |ip| escaped(ip, 40, clip)),
            escaped(&r.topic, TOPIC_WIDTH, clip_middle),
            Cow::Borrowed(if opts.source { &*r.source } else { "" }),
        ],
        state: r.state,
    }
}

/// Escaped, then clipped to `max` characters: borrowed when neither changes anything.
fn escaped(s: &str, max: usize, clip: fn(&str, usize) -> Cow<'_, str>) -> Cow<'_, str> {
    match escape(s) {
        Cow::Borrowed(b) => clip(b, max),
        Cow::Owned(o) => Cow::Owned(clip(&o, max).into_owned()),
    }
}

/// Columns on screen: ASCII is one column a byte, the rest as the terminal shows it.
fn width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        unicode_width::UnicodeWidthStr::width(s)
    }
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

/// Two passes over the rows, holding none of them as text: the first measures the
/// columns, the second writes each row padded to them (trailing spaces trimmed). A table of
/// a million rows stays a stream.
pub fn write<W: Write>(scan: &Scan<'_>, opts: &Options, mut w: W) -> io::Result<()> {
    if !scan.clients.is_empty() {
        let columns = if opts.source { 8 } else { 7 };
        let mut widths = [0usize; 8];
        for (w, h) in widths.iter_mut().zip(HEADER) {
            *w = h.len();
        }
        for r in &scan.clients {
            let c = cells(r, opts);
            for (w, t) in widths.iter_mut().zip(&c.text).take(columns) {
                *w = (*w).max(width(t));
            }
        }
        let mut out = Vec::with_capacity(64 * 1024);
        let header = HEADER.map(Cow::Borrowed);
        line(&mut out, &header[..columns], None, &widths);
        for r in &scan.clients {
            let c = cells(r, opts);
            line(
                &mut out,
                &c.text[..columns],
                opts.color.then_some(c.state),
                &widths,
            );
            if out.len() >= 60 * 1024 {
                w.write_all(&out)?;
                out.clear();
            }
        }
        w.write_all(&out)?;
    }
    writeln!(w, "{}", summary_line(scan))
}

/// One line: each cell padded to its column and the gap, the last one trimmed.
fn line(out: &mut Vec<u8>, cells: &[Cow<'_, str>], state: Option<State>, widths: &[usize; 8]) {
    let last = cells.len() - 1;
    let mut pad = 0;
    for (i, cell) in cells.iter().enumerate() {
        let text: &str = if i == last { cell.trim_end() } else { cell };
        if text.is_empty() {
            pad += widths[i] + GAP;
            continue;
        }
        out.resize(out.len() + pad, b' ');
        match state {
            Some(s) if i == 1 => out.extend_from_slice(state_cell(s, true).as_bytes()),
            _ => out.extend_from_slice(text.as_bytes()),
        }
        pad = widths[i].saturating_sub(width(text)) + GAP;
    }
    out.push(b'\n');
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
