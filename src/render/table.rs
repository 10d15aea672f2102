//! The default human table, with a summary line under it.

use std::borrow::{Borrow, Cow};
use std::fmt::{self, Write as _};
use std::io::{self, Write};

use chrono::{DateTime, Utc};
use tabled::grid::dimension::{DimensionValue, StaticDimension};
use tabled::grid::util::string::get_line_width;
use tabled::settings::{Padding, Style};
use tabled::tables::CompactTable;

use super::columns::{self, width, Column};
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
    /// `--columns`: exactly these, in this order (None: the default set).
    pub columns: Option<Vec<Column>>,
    /// The terminal's width, to fit the table into (None: a pipe, every column whole).
    pub width: Option<usize>,
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
    if color {
        colored(state)
    } else {
        state.as_str()
    }
    .to_owned()
}

/// Spaces between columns.
const GAP: usize = 3;

/// A row's cells: borrowed where nothing needs escaping or clipping (nearly always), so a
/// million rows cost no allocation per cell. The state is kept apart: its colour codes take
/// no room on screen.
pub struct Cells<'a> {
    /// By [`Column::index`].
    pub text: [Cow<'a, str>; 8],
    pub state: State,
}

/// A row's cells as the table and the live view show them: escaped, long names and
/// topics shortened in the middle.
pub fn cells(r: &Row, now: DateTime<Utc>) -> Cells<'_> {
    let (since, held): (Cow<'_, str>, Cow<'_, str>) = match r.since {
        Some(t) => (
            Cow::Owned(Rfc3339::table(t).as_str().to_owned()),
            Cow::Owned(age(t, now)),
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
            Cow::Borrowed(&*r.source),
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

/// The columns to show and their widths: the chosen ones (never dropped) or the default
/// set, each as wide as its widest cell, header included, then fitted into `width` (see
/// [`columns::fit`]). Shared by the table and the live view.
pub fn layout<'a, C: Borrow<Cells<'a>>>(
    chosen: Option<&[Column]>,
    source: bool,
    rows: impl IntoIterator<Item = C>,
    width: Option<usize>,
    gap: usize,
) -> Vec<(Column, usize)> {
    let wanted = chosen.map_or_else(|| columns::default_columns(source), <[Column]>::to_vec);
    let mut natural = [0usize; 8];
    for c in &wanted {
        natural[c.index()] = c.header().len();
    }
    for r in rows {
        let text = &r.borrow().text;
        for c in &wanted {
            let i = c.index();
            natural[i] = natural[i].max(columns::width(&text[i]));
        }
    }
    columns::fit(&wanted, &natural, width, gap, chosen.is_some())
}

/// Two passes over the rows, holding none of them as text: the first measures the
/// columns, the second lets tabled's `CompactTable` write each row padded to them (it
/// streams rows from an iterator and allocates nothing per row). A table of a million rows
/// stays a stream. Given a width, the columns are fitted into it (see [`columns::fit`]).
pub fn write<W: Write>(scan: &Scan<'_>, opts: &Options, mut w: W) -> io::Result<()> {
    if !scan.clients.is_empty() {
        let layout = layout(
            opts.columns.as_deref(),
            opts.source,
            scan.clients.iter().map(|r| cells(r, opts.now)),
            opts.width,
            GAP,
        );
        let shown = layout.len();
        let state_at = layout.iter().position(|(c, _)| *c == Column::State);
        // Each column's width includes the gap after it (tabled's right padding).
        let dims = |extra_state: usize| {
            let list = layout
                .iter()
                .enumerate()
                .map(|(i, (_, w))| w + GAP + if Some(i) == state_at { extra_state } else { 0 })
                .collect();
            StaticDimension::new(DimensionValue::List(list), DimensionValue::Exact(1))
        };
        let header: [&str; 8] = std::array::from_fn(|i| {
            layout.get(i).map_or("", |(c, w)| {
                let h = c.header();
                &h[..h.len().min(*w)]
            })
        });
        let mut out = Lines::new(&mut w);
        compact(std::iter::once(header), dims(0), shown, &mut out)?;
        // Colour codes count as width to tabled (without its slower `ansi` feature); every
        // coloured state carries codes of the same length, so its column is widened by that.
        let extra = if opts.color {
            get_line_width(colored(State::Online)) - get_line_width(State::Online.as_str())
        } else {
            0
        };
        let rows = scan.clients.iter().map(|r| {
            let mut c = cells(r, opts.now);
            let mut text: [Cow<'_, str>; 8] = std::array::from_fn(|i| {
                let Some(&(col, w)) = layout.get(i) else {
                    return Cow::Borrowed("");
                };
                let t = std::mem::take(&mut c.text[col.index()]);
                if width(&t) <= w {
                    t
                } else {
                    Cow::Owned(col.cut(&t, w).into_owned())
                }
            });
            if let (true, Some(i)) = (opts.color, state_at) {
                text[i] = Cow::Borrowed(colored(c.state));
            }
            // The last column on screen is trimmed, so no line ends in spaces.
            match &mut text[shown - 1] {
                Cow::Borrowed(t) => *t = t.trim_end(),
                Cow::Owned(t) => t.truncate(t.trim_end().len()),
            }
            text
        });
        compact(rows, dims(extra), shown, &mut out)?;
    }
    let summary = summary_line(scan);
    match opts.width {
        Some(max) => {
            for line in wrap(&summary, max) {
                writeln!(w, "{line}")?;
            }
            Ok(())
        }
        None => writeln!(w, "{summary}"),
    }
}

/// The summary in lines of at most `max` columns, broken after its commas.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for part in text.split_inclusive(", ") {
        if !cur.is_empty() && width(&cur) + width(part.trim_end()) > max {
            lines.push(cur.trim_end().to_owned());
            cur.clear();
        }
        cur.push_str(part);
    }
    if !cur.is_empty() {
        lines.push(cur.trim_end().to_owned());
    }
    lines
}

/// One `CompactTable` with no borders: left-aligned cells, each followed by its gap.
fn compact<I, W>(
    rows: I,
    dims: StaticDimension,
    columns: usize,
    out: &mut Lines<W>,
) -> io::Result<()>
where
    I: IntoIterator,
    I::Item: IntoIterator,
    <I::Item as IntoIterator>::Item: AsRef<str>,
    W: Write,
{
    CompactTable::with_dimension(rows, dims)
        .columns(columns)
        .with(Style::empty())
        .with(Padding::new(0, 0, 0, 0))
        .fmt(&mut *out)
        .map_err(|_| out.take_error())?;
    // tabled ends the last line without a newline.
    fmt::Write::write_char(out, '\n').map_err(|_| out.take_error())
}

/// The state word in its colour, as the table and the event lines show it.
fn colored(state: State) -> &'static str {
    match state {
        State::Online => "\x1b[32monline\x1b[0m",
        State::Offline => "\x1b[31moffline\x1b[0m",
        State::Unknown => "\x1b[33munknown\x1b[0m",
    }
}

/// The bytes tabled writes, passed on a line at a time with the spaces at its end dropped
/// (a row's padding after its last cell). The caller's writer does the buffering.
struct Lines<W: Write> {
    w: W,
    /// The line so far.
    buf: Vec<u8>,
    /// Spaces seen and not yet written: they are written only if more text follows.
    spaces: usize,
    error: Option<io::Error>,
}

impl<W: Write> Lines<W> {
    fn new(w: W) -> Self {
        Self {
            w,
            buf: Vec::with_capacity(256),
            spaces: 0,
            error: None,
        }
    }

    fn take_error(&mut self) -> io::Error {
        self.error
            .take()
            .unwrap_or_else(|| io::Error::other("the table could not be written"))
    }

    fn text(&mut self, s: &str) {
        let trimmed = s.trim_end_matches(' ');
        if trimmed.is_empty() {
            self.spaces += s.len();
            return;
        }
        self.buf.resize(self.buf.len() + self.spaces, b' ');
        self.buf.extend_from_slice(trimmed.as_bytes());
        self.spaces = s.len() - trimmed.len();
    }

    fn newline(&mut self) -> fmt::Result {
        self.spaces = 0;
        self.buf.push(b'\n');
        let written = self.w.write_all(&self.buf);
        self.buf.clear();
        written.map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

impl<W: Write> fmt::Write for Lines<W> {
    /// tabled pads one `write_char` a space: those only count.
    fn write_char(&mut self, c: char) -> fmt::Result {
        match c {
            ' ' => self.spaces += 1,
            '\n' => self.newline()?,
            c => self.text(c.encode_utf8(&mut [0; 4])),
        }
        Ok(())
    }

    /// Cells are single lines (escaped): tabled writes its newlines with `write_char`.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.text(s);
        Ok(())
    }
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
