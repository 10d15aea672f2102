//! Which table columns to show, and how wide, in a given width: shared by `list` (on a
//! terminal) and the live view of `watch`. Pure: widths in, a layout out.
//!
//! The rules: a time (SINCE, FOR), a state, an address or a source is never cut; a name
//! is kept whole if anything else can give way, and otherwise shortened in the middle with
//! `…`. When the columns do not fit, the least useful go first: TOPIC, IP, DETAIL, SOURCE,
//! SINCE (FOR says nearly the same, in less room), FOR. The last column dropped comes back
//! shortened when at least its minimum fits in the room left (a TOPIC of 12 or more).

use std::borrow::Cow;

use clap::ValueEnum;

/// A table column, as `--columns` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Column {
    Name,
    State,
    Detail,
    Since,
    For,
    Ip,
    Topic,
    Source,
}

impl Column {
    pub const ALL: [Column; 8] = [
        Column::Name,
        Column::State,
        Column::Detail,
        Column::Since,
        Column::For,
        Column::Ip,
        Column::Topic,
        Column::Source,
    ];

    pub fn header(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::State => "STATE",
            Column::Detail => "DETAIL",
            Column::Since => "SINCE",
            Column::For => "FOR",
            Column::Ip => "IP",
            Column::Topic => "TOPIC",
            Column::Source => "SOURCE",
        }
    }

    /// Its place in a row's cells (the order of [`Column::ALL`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// How narrow the column may be shortened (with `…`); None: never cut.
    pub fn min_width(self) -> Option<usize> {
        match self {
            Column::Name => Some(6),
            Column::Detail => Some(8),
            Column::Topic => Some(12),
            _ => None,
        }
    }

    /// A cell of this column in at most `max` screen columns (see [`shorten`]): names and
    /// topics in the middle (they differ at their ends), the rest at the end.
    pub fn cut(self, s: &str, max: usize) -> Cow<'_, str> {
        shorten(s, max, matches!(self, Column::Name | Column::Topic))
    }
}

/// The columns shown when `--columns` is not given: SOURCE only when presets are in use.
pub fn default_columns(source: bool) -> Vec<Column> {
    let n = if source { 8 } else { 7 };
    Column::ALL[..n].to_vec()
}

/// Least useful first.
const DROP_ORDER: [Column; 7] = [
    Column::Topic,
    Column::Ip,
    Column::Detail,
    Column::Source,
    Column::Since,
    Column::For,
    Column::State,
];

/// Shortened before anything the user asked for is given up (`--columns`).
const SHRINK_ORDER: [Column; 3] = [Column::Topic, Column::Detail, Column::Name];

/// The layout: each shown column with its width. `natural` is each column's widest cell
/// (header included), by [`Column::index`]. With `width` None (a pipe) everything is shown
/// at its natural width. `fixed` (the user chose the columns) shortens but never drops: if
/// even that does not fit, the lines are longer than `width`.
pub fn fit(
    columns: &[Column],
    natural: &[usize; 8],
    width: Option<usize>,
    gap: usize,
    fixed: bool,
) -> Vec<(Column, usize)> {
    let mut shown: Vec<(Column, usize)> =
        columns.iter().map(|&c| (c, natural[c.index()])).collect();
    let Some(width) = width else {
        return shown;
    };
    let total = |s: &[(Column, usize)]| -> usize {
        s.iter().map(|(_, w)| w).sum::<usize>() + gap * s.len().saturating_sub(1)
    };
    if total(&shown) <= width {
        return shown;
    }
    if !fixed {
        for drop in DROP_ORDER {
            // Keep at least the name, or the one column left.
            if shown.len() <= 1 {
                break;
            }
            let Some(pos) = shown.iter().position(|(c, _)| *c == drop) else {
                continue;
            };
            if drop == Column::State && shown.iter().any(|(c, _)| *c == Column::Name) {
                // A shortened name beside its state is better than a whole name alone.
                let rest = total(&shown) - shown_width(&shown, Column::Name);
                if width >= rest + Column::Name.min_width().unwrap_or(1) {
                    break;
                }
            }
            shown.remove(pos);
            let used = total(&shown);
            if used <= width {
                if let Some(min) = drop.min_width() {
                    let room = width - used;
                    if room >= gap + min {
                        shown.insert(pos, (drop, room - gap));
                    }
                }
                return shown;
            }
        }
    }
    for shrink in SHRINK_ORDER {
        let Some(i) = shown.iter().position(|(c, _)| *c == shrink) else {
            continue;
        };
        let over = total(&shown).saturating_sub(width);
        if over == 0 {
            break;
        }
        let min = shrink.min_width().unwrap_or(1).min(shown[i].1);
        // The one column left takes the whole width, however narrow.
        let min = if shown.len() == 1 { 1 } else { min };
        shown[i].1 -= over.min(shown[i].1 - min);
    }
    shown
}

fn shown_width(shown: &[(Column, usize)], col: Column) -> usize {
    shown.iter().find(|(c, _)| *c == col).map_or(0, |(_, w)| *w)
}

/// Columns on screen: ASCII is one column a byte, the rest as the terminal shows it.
pub fn width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        unicode_width::UnicodeWidthStr::width(s)
    }
}

/// `s` in at most `max` screen columns, with `…` where it was cut: in the middle (keeping
/// the start and the end) or at the end. Borrowed when it fits.
pub fn shorten(s: &str, max: usize, middle: bool) -> Cow<'_, str> {
    if width(s) <= max {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let budget = max - 1;
    let (head_budget, tail_budget) = if middle {
        let tail = budget / 3;
        (budget - tail, tail)
    } else {
        (budget, 0)
    };
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > head_budget {
            break;
        }
        used += w;
        out.push(c);
    }
    let mut tail: Vec<char> = Vec::new();
    let mut tail_used = 0;
    for c in s.chars().rev() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if tail_used + w > tail_budget + (head_budget - used) {
            break;
        }
        tail_used += w;
        tail.push(c);
    }
    if !middle {
        tail.clear();
    }
    out.push('…');
    out.extend(tail.into_iter().rev());
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Column::*;

    /// Natural widths of a typical fleet: 8-character names, IPv4, a long topic.
    const TYPICAL: [usize; 8] = [8, 7, 6, 20, 9, 15, 26, 11];

    fn names(l: &[(Column, usize)]) -> Vec<Column> {
        l.iter().map(|(c, _)| *c).collect()
    }

    fn line_width(l: &[(Column, usize)], gap: usize) -> usize {
        l.iter().map(|(_, w)| w).sum::<usize>() + gap * (l.len() - 1)
    }

    #[test]
    fn a_pipe_gets_every_column_whole() {
        let l = fit(&default_columns(false), &TYPICAL, None, 3, false);
        assert_eq!(names(&l), &Column::ALL[..7]);
        assert!(l.iter().all(|(c, w)| *w == TYPICAL[c.index()]));
    }

    #[test]
    fn the_least_useful_columns_go_first_and_times_stay_whole() {
        let cols = default_columns(false);
        let at = |w| fit(&cols, &TYPICAL, Some(w), 3, false);
        assert_eq!(names(&at(200)).len(), 7);
        // 80: TOPIC goes; IP stays.
        assert_eq!(names(&at(80)), [Name, State, Detail, Since, For, Ip]);
        // 60: IP and DETAIL too.
        assert_eq!(names(&at(60)), [Name, State, Since, For]);
        // 50, 40: SINCE gives way to the shorter FOR.
        assert_eq!(names(&at(50)), [Name, State, For]);
        assert_eq!(names(&at(40)), [Name, State, For]);
        assert_eq!(names(&at(20)), [Name, State]);
        for w in [200, 100, 80, 60, 50, 40, 30, 20] {
            let l = at(w);
            assert!(line_width(&l, 3) <= w, "{w}: {l:?}");
            for (c, cw) in &l {
                if c.min_width().is_none() {
                    assert_eq!(*cw, TYPICAL[c.index()], "{c:?} cut at {w}");
                }
            }
        }
    }

    #[test]
    fn a_dropped_topic_comes_back_shortened_when_there_is_room() {
        let l = fit(&default_columns(false), &TYPICAL, Some(100), 3, false);
        assert_eq!(
            l.last(),
            Some(&(Topic, 100 - (8 + 7 + 6 + 20 + 9 + 15 + 5 * 3) - 3))
        );
        assert_eq!(line_width(&l, 3), 100);
    }

    #[test]
    fn a_long_name_is_shortened_only_when_nothing_else_can_go() {
        let mut natural = TYPICAL;
        natural[0] = 30;
        // 40: the whole name and its state.
        let l = fit(&default_columns(false), &natural, Some(40), 3, false);
        assert_eq!(l, [(Name, 30), (State, 7)]);
        // 25: the name shortened beside its state.
        let l = fit(&default_columns(false), &natural, Some(25), 3, false);
        assert_eq!(l, [(Name, 15), (State, 7)]);
        // 8: the name alone.
        let l = fit(&default_columns(false), &natural, Some(8), 3, false);
        assert_eq!(l, [(Name, 8)]);
    }

    #[test]
    fn chosen_columns_are_shortened_never_dropped() {
        let cols = [Name, Topic, Since];
        let l = fit(&cols, &TYPICAL, Some(50), 3, true);
        assert_eq!(l, [(Name, 8), (Topic, 16), (Since, 20)]);
        let l = fit(&cols, &TYPICAL, Some(20), 3, true);
        assert_eq!(names(&l), cols, "too narrow: longer lines, nothing dropped");
    }

    #[test]
    fn shortening_marks_the_cut_and_keeps_the_ends() {
        assert_eq!(shorten("sensor10", 8, true), "sensor10");
        assert_eq!(shorten("sensor10", 7, true), "sens…10");
        assert_eq!(shorten("a-long-detail", 8, false), "a-long-…");
        assert_eq!(
            shorten("sensors/connected/sensor10", 12, true),
            "sensors/…r10"
        );
        // Wide characters count two columns.
        let s = shorten("日本語のセンサー名", 9, true);
        assert!(width(&s) <= 9, "{s}");
        assert!(s.contains('…'));
        assert_eq!(shorten("abc", 0, true), "");
    }
}
