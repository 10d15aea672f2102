//! `watch` on a terminal: full screen, redrawn on a tick (at most 10 times a second) when
//! something changed, never per message. The terminal is restored on every way out: `q`,
//! Ctrl-C, SIGTERM, SIGINT, an error (the guard's Drop) and a panic (ratatui's hook).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, HighlightSpacing, Paragraph, Row as TableRow, Table, TableState,
    Wrap,
};
use ratatui::Frame;
use tokio::sync::mpsc;

use super::core::{Happening, Link, Watcher};
use super::{ChangeLog, Signals};
use crate::error::Exit;
use crate::render::columns::{self, shorten, width, Column};
use crate::render::table::{self, age, clients};
use crate::status::rfc3339::Rfc3339;
use crate::status::{escape, Payload, Registry, Row, SortKey, State};

/// How long a changed row stays highlighted.
const HIGHLIGHT: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(100);
/// State changes kept per client for the detail pane.
pub const HISTORY: usize = 50;
/// Spaces between table columns.
const GAP: usize = 2;
/// The selection cursor, in a gutter left of the table.
const CURSOR: &str = "▶ ";

/// One state change this watcher saw, for a client's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub time: DateTime<Utc>,
    pub from: Option<State>,
    pub to: Option<State>,
    pub retained: bool,
}

/// What the view shows besides the table: sort, filters, selection, scroll, highlights,
/// the detail pane and each client's recent history.
// Independent toggles of one screen, not a state machine in disguise.
#[allow(clippy::struct_excessive_bools)]
pub struct View {
    pub broker: String,
    pub topics: String,
    pub sort: SortKey,
    pub offline_only: bool,
    pub color: bool,
    /// A SOURCE column (presets are in use).
    pub source: bool,
    /// `--columns`: exactly these, in this order.
    pub columns: Option<Vec<Column>>,
    offset: usize,
    /// Rows per page, from the last draw (for PgUp/PgDn).
    page: usize,
    /// The selected row's place in the rows shown, and its name (from the last draw): the
    /// selection stays on its client while the table re-sorts, unless a key moved it.
    cursor: usize,
    cursor_name: Option<String>,
    moved: bool,
    /// The client whose detail pane is open, and how far it is scrolled.
    detail: Option<String>,
    detail_scroll: u16,
    /// The name filter (`/`): a case-insensitive substring; `editing` while it is typed.
    filter: String,
    editing: bool,
    changed: HashMap<String, Instant>,
    history: HashMap<String, VecDeque<Seen>>,
    message: Option<String>,
}

impl View {
    pub fn new(
        broker: String,
        topics: String,
        sort: SortKey,
        offline_only: bool,
        color: bool,
        source: bool,
        columns: Option<Vec<Column>>,
    ) -> Self {
        Self {
            broker,
            topics,
            sort,
            offline_only,
            color,
            source,
            columns,
            offset: 0,
            page: 10,
            cursor: 0,
            cursor_name: None,
            moved: false,
            detail: None,
            detail_scroll: 0,
            filter: String::new(),
            editing: false,
            changed: HashMap::new(),
            history: HashMap::new(),
            message: None,
        }
    }

    /// Takes in what the watcher saw: highlights, histories, warnings.
    pub fn record(&mut self, happenings: &[Happening], now: Instant) {
        for h in happenings {
            match h {
                Happening::Change(c) => {
                    self.changed.insert(c.name.clone(), now);
                    self.remember(&c.name, c.time, c.from, c.to, c.retained);
                }
                Happening::Snapshot { rows, .. } => {
                    for c in rows {
                        self.remember(&c.name, c.time, c.from, c.to, c.retained);
                    }
                }
                Happening::Warning(msg) => self.message = Some(msg.clone()),
                Happening::Broker { .. } => {}
            }
        }
    }

    fn remember(
        &mut self,
        name: &str,
        time: DateTime<Utc>,
        from: Option<State>,
        to: Option<State>,
        retained: bool,
    ) {
        if to.is_none() && self.detail.as_deref() != Some(name) {
            // Removed, and nobody is looking: its history goes with it (memory stays
            // bounded by the table).
            self.history.remove(name);
            return;
        }
        let h = self.history.entry(name.to_owned()).or_default();
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(Seen {
            time,
            from,
            to,
            retained,
        });
    }

    /// Whether a row passes the name filter.
    fn shows(&self, name: &str) -> bool {
        self.filter.is_empty()
            || escape(name)
                .to_lowercase()
                .contains(&self.filter.to_lowercase())
    }

    fn move_cursor(&mut self, to: usize) {
        self.cursor = to;
        self.moved = true;
    }

    /// Applies a key; false means quit.
    fn key(&mut self, code: KeyCode, modifiers: KeyModifiers) -> bool {
        if code == KeyCode::Char('c') && modifiers.contains(KeyModifiers::CONTROL) {
            return false;
        }
        if self.editing {
            match code {
                KeyCode::Enter => self.editing = false,
                KeyCode::Esc => {
                    self.editing = false;
                    self.filter.clear();
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c)
                    if !c.is_control() && !modifiers.contains(KeyModifiers::CONTROL) =>
                {
                    self.filter.push(c);
                }
                _ => {}
            }
            return true;
        }
        if self.detail.is_some() {
            match code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => {
                    self.detail = None;
                    self.detail_scroll = 0;
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    self.detail_scroll = self.detail_scroll.saturating_sub(1);
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    self.detail_scroll = self.detail_scroll.saturating_add(1);
                }
                KeyCode::PageUp => self.detail_scroll = self.detail_scroll.saturating_sub(10),
                KeyCode::PageDown | KeyCode::Char(' ') => {
                    self.detail_scroll = self.detail_scroll.saturating_add(10);
                }
                KeyCode::Home | KeyCode::Char('g') => self.detail_scroll = 0,
                _ => {}
            }
            return true;
        }
        match code {
            // Esc peels what is open: the filter first; on the bare table it quits.
            KeyCode::Esc if !self.filter.is_empty() => self.filter.clear(),
            KeyCode::Char('q') | KeyCode::Esc => return false,
            KeyCode::Up | KeyCode::Char('k') => self.move_cursor(self.cursor.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.move_cursor(self.cursor.saturating_add(1)),
            KeyCode::PageUp => self.move_cursor(self.cursor.saturating_sub(self.page)),
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.move_cursor(self.cursor.saturating_add(self.page));
            }
            KeyCode::Home | KeyCode::Char('g') => self.move_cursor(0),
            KeyCode::End | KeyCode::Char('G') => self.move_cursor(usize::MAX),
            KeyCode::Enter => self.detail.clone_from(&self.cursor_name),
            KeyCode::Char('/') => self.editing = true,
            KeyCode::Char('s') => {
                self.sort = match self.sort {
                    SortKey::Name => SortKey::State,
                    SortKey::State => SortKey::Since,
                    SortKey::Since => SortKey::Name,
                };
            }
            KeyCode::Char('o') => self.offline_only = !self.offline_only,
            _ => {}
        }
        true
    }
}

/// What the view draws from the watcher.
pub struct Status<'a> {
    pub registry: &'a Registry,
    pub link: &'a Link,
    pub stale_since: Option<DateTime<Utc>>,
    pub syncing: bool,
}

impl<'a> Status<'a> {
    pub fn of(w: &'a Watcher) -> Self {
        Self {
            registry: &w.registry,
            link: &w.link,
            stale_since: w.stale_since,
            syncing: w.syncing(),
        }
    }
}

/// Restores the terminal when dropped, whatever the way out.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

pub async fn run(
    mut w: Watcher,
    mut view: View,
    mut log: Option<ChangeLog>,
    mut signals: Signals,
) -> anyhow::Result<Exit> {
    // The guard first: if setting up fails halfway (raw mode on, no alternate screen),
    // restoring is still right.
    let guard = Restore;
    let mut terminal =
        ratatui::try_init().map_err(|e| anyhow::anyhow!("cannot set up the terminal: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut keys = read_keys(stop.clone());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut last_second = Utc::now().timestamp();
    let result = loop {
        tokio::select! {
            next = w.next() => match next {
                Ok(happenings) => {
                    if let Some(log) = log.as_mut() {
                        if let Err(e) = log.record(&happenings) {
                            break Err(e);
                        }
                    }
                    view.record(&happenings, Instant::now());
                    dirty = true;
                }
                Err(e) => break Err(e),
            },
            key = keys.recv() => match key {
                // A person's input redraws at once; only the broker's changes wait for a tick.
                Some(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => {
                    if !view.key(k.code, k.modifiers) {
                        break Ok(Exit::Success);
                    }
                    if let Err(e) = terminal.draw(|f| draw(f, &Status::of(&w), &mut view, Utc::now())) {
                        break Err(anyhow::anyhow!("cannot draw: {e}"));
                    }
                }
                Some(_) => dirty = true,
                None => break Err(anyhow::anyhow!("cannot read the keyboard")),
            },
            _ = tick.tick() => {
                let second = Utc::now().timestamp();
                let fading = view.changed.values().any(|t| t.elapsed() >= HIGHLIGHT);
                if dirty || fading || second != last_second {
                    view.changed.retain(|_, t| t.elapsed() < HIGHLIGHT);
                    if let Err(e) = terminal.draw(|f| draw(f, &Status::of(&w), &mut view, Utc::now())) {
                        break Err(anyhow::anyhow!("cannot draw: {e}"));
                    }
                    dirty = false;
                    last_second = second;
                }
            }
            _ = signals.recv() => break Ok(Exit::Success),
        }
    };
    stop.store(true, Ordering::Relaxed);
    drop(guard);
    w.close().await;
    result
}

/// Terminal events on a thread of their own (crossterm's reads block), polled so the
/// thread notices `stop` within a tick.
fn read_keys(stop: Arc<AtomicBool>) -> mpsc::UnboundedReceiver<TermEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(TICK) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    rx
}

fn state_style(state: State, color: bool) -> Style {
    if !color {
        return Style::default();
    }
    Style::default().fg(match state {
        State::Online => Color::Green,
        State::Offline => Color::Red,
        State::Unknown => Color::Yellow,
    })
}

/// Draws the whole screen: two header lines, the table (or a client's detail), a footer.
pub fn draw(f: &mut Frame<'_>, st: &Status<'_>, view: &mut View, now: DateTime<Utc>) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let screen = usize::from(f.area().width);
    let mut rows = st
        .registry
        .rows(view.sort, view.offline_only.then_some(State::Offline));
    if !view.filter.is_empty() {
        rows.retain(|r| view.shows(&r.name));
    }
    let height = usize::from(body.height.saturating_sub(1)).max(1);
    view.page = height;
    if !view.moved {
        if let Some(i) = view
            .cursor_name
            .as_deref()
            .and_then(|n| rows.iter().position(|r| &*r.name == n))
        {
            view.cursor = i;
        }
    }
    view.moved = false;
    view.cursor = view.cursor.min(rows.len().saturating_sub(1));
    view.cursor_name = rows.get(view.cursor).map(|r| r.name.to_string());
    if view.cursor < view.offset {
        view.offset = view.cursor;
    } else if view.cursor >= view.offset + height {
        view.offset = view.cursor + 1 - height;
    }
    view.offset = view.offset.min(rows.len().saturating_sub(height));
    let first = first_line(st, view, now, screen);
    let second = second_line(st, view, &rows, height, screen);
    f.render_widget(Paragraph::new(vec![first, second]), head);
    let shown = &rows[view.offset..(view.offset + height).min(rows.len())];
    draw_table(f, body, shown, view.cursor - view.offset, view, now);
    if rows.is_empty() && body.height > 1 {
        let why = if st.registry.is_empty() {
            format!(
                "no status on {} yet (mqtt-scan list -t '#' shows what the broker holds)",
                escape(&view.topics)
            )
        } else if !view.filter.is_empty() {
            format!(
                "no client name contains \"{}\" (Esc clears the filter)",
                escape(&view.filter)
            )
        } else {
            "no client is offline (o shows them all)".to_owned()
        };
        let line = Line::from(clip_spans(vec![Span::raw(why)], screen));
        f.render_widget(
            Paragraph::new(line).style(Style::default().add_modifier(Modifier::DIM)),
            Rect {
                y: body.y + 1,
                height: 1,
                ..body
            },
        );
    }
    if let Some(name) = view.detail.clone() {
        draw_detail(f, body, st.registry.get(&name), &name, view, now);
    }
    let footer = footer_line(view, screen);
    f.render_widget(
        Paragraph::new(footer).style(Style::default().add_modifier(Modifier::DIM)),
        foot,
    );
}

/// `mqtt-scan BROKER  ● connected  [stale since T]  CLOCK`: the times are never cut; the
/// connection's reason, then the broker, then the program name give way first.
fn first_line(st: &Status<'_>, view: &View, now: DateTime<Utc>, screen: usize) -> Line<'static> {
    let (link, link_style) = match (st.link, st.syncing) {
        (Link::Connected, true) => (
            "● connected, syncing".to_owned(),
            Style::default().fg(Color::Yellow),
        ),
        (Link::Connected, false) => (
            "● connected".to_owned(),
            state_style(State::Online, view.color),
        ),
        (Link::Reconnecting { attempt, reason }, _) => (
            format!("○ reconnecting (attempt {attempt}): {}", escape(reason)),
            state_style(State::Offline, view.color),
        ),
    };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut right: Vec<(String, Style)> = Vec::new();
    if let Some(since) = st.stale_since {
        right.push((format!("stale since {}", since.format("%H:%M:%SZ")), bold));
    }
    right.push((now.format("%H:%M:%SZ").to_string(), Style::default()));
    let right_width =
        |r: &[(String, Style)]| r.iter().map(|(t, _)| width(t) + 2).sum::<usize>() - 2;
    if right.len() == 2 && right_width(&right) > screen {
        right.pop();
    }
    if let (Some(since), true) = (st.stale_since, right_width(&right) > screen) {
        right[0].0 = format!("stale {}", since.format("%H:%M:%SZ"));
    }
    let budget = screen.saturating_sub(right_width(&right) + 2);
    let mut prefix = "mqtt-scan ";
    let mut broker = escape(&view.broker).into_owned();
    let mut link = link;
    let left = |p: &str, b: &str, l: &str| width(p) + width(b) + 2 + width(l);
    let over = left(prefix, &broker, &link).saturating_sub(budget);
    if over > 0 {
        // Down to `○ reconnecting…`.
        let w = width(&link);
        link = shorten(&link, w.saturating_sub(over).max(15.min(w)), false).into_owned();
    }
    if left(prefix, &broker, &link) > budget {
        prefix = "";
    }
    let over = left(prefix, &broker, &link).saturating_sub(budget);
    if over > 0 {
        let w = width(&broker);
        broker = shorten(&broker, w.saturating_sub(over).max(12.min(w)), true).into_owned();
    }
    let mut spans = clip_spans(
        vec![
            Span::styled(prefix, bold),
            Span::raw(broker),
            Span::raw("  "),
            Span::styled(link, link_style),
        ],
        budget,
    );
    for (text, style) in right {
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(text, style));
    }
    Line::from(clip_spans(spans, screen))
}

/// Counts, sort, filters, position, topics; cut at the end (with `…`) to fit.
fn second_line(
    st: &Status<'_>,
    view: &View,
    rows: &[&Row],
    height: usize,
    screen: usize,
) -> Line<'static> {
    let counts = st.registry.summary();
    let mut spans = vec![
        Span::raw(format!("{} {}: ", counts.total, clients(counts.total))),
        Span::styled(
            format!("{} online", counts.online),
            state_style(State::Online, view.color),
        ),
        Span::raw(", "),
        Span::styled(
            format!("{} offline", counts.offline),
            state_style(State::Offline, view.color),
        ),
        Span::raw(", "),
        Span::styled(
            format!("{} unknown", counts.unknown),
            state_style(State::Unknown, view.color),
        ),
    ];
    let mut rest = format!(
        "   sort: {}",
        match view.sort {
            SortKey::Name => "name",
            SortKey::State => "state",
            SortKey::Since => "since",
        }
    );
    if view.offline_only {
        rest.push_str("   offline only");
    }
    spans.push(Span::raw(rest));
    if !view.filter.is_empty() || view.editing {
        spans.push(Span::raw("   "));
        spans.push(Span::styled(
            format!("filter: {}", escape(&view.filter)),
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::raw(format!(
        "   rows {}-{} of {}   topics: {}",
        if rows.is_empty() { 0 } else { view.offset + 1 },
        (view.offset + height).min(rows.len()),
        rows.len(),
        escape(&view.topics)
    )));
    Line::from(clip_spans(spans, screen))
}

fn footer_line(view: &View, screen: usize) -> Line<'static> {
    let spans = if view.editing {
        vec![
            Span::styled(
                format!("/{}▏", escape(&view.filter)),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw("   Enter keep   Esc clear   Backspace delete"),
        ]
    } else if view.detail.is_some() {
        vec![Span::raw(
            "Esc/Enter/q close   ↑↓ PgUp PgDn Home scroll   Ctrl-C quit",
        )]
    } else if let Some(m) = &view.message {
        vec![Span::styled(
            format!("warning: {}", escape(m)),
            Style::default().fg(Color::Yellow),
        )]
    } else {
        let mut help = "q quit   ↑↓ select   Enter details   / filter   s sort   o offline only   PgUp PgDn Home End".to_owned();
        if !view.filter.is_empty() {
            help = format!("Esc clear filter   {help}");
        }
        vec![Span::raw(help)]
    };
    Line::from(clip_spans(spans, screen))
}

/// The spans in at most `max` columns: what does not fit is cut, with `…`.
fn clip_spans(spans: Vec<Span<'static>>, max: usize) -> Vec<Span<'static>> {
    let total: usize = spans.iter().map(|s| width(&s.content)).sum();
    if total <= max {
        return spans;
    }
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let w = width(&s.content);
        if used + w < max {
            used += w;
            out.push(s);
            continue;
        }
        // A trailing space makes a span that fits exactly too long: it is cut too, so the
        // `…` says more followed.
        let cut = shorten(&format!("{} ", s.content), max - used, false).into_owned();
        out.push(Span::styled(cut, s.style));
        break;
    }
    out
}

/// The table fitted to the window (see [`columns::fit`]): whole names and times where
/// anything else can give way; the selected row marked in a gutter.
fn draw_table(
    f: &mut Frame<'_>,
    area: Rect,
    rows: &[&Row],
    selected: usize,
    view: &View,
    now: DateTime<Utc>,
) {
    let wanted = view
        .columns
        .clone()
        .unwrap_or_else(|| columns::default_columns(view.source));
    let cells: Vec<table::Cells<'_>> = rows.iter().map(|r| table::cells(r, now)).collect();
    let mut natural = [0usize; 8];
    for c in &wanted {
        let i = c.index();
        natural[i] = cells
            .iter()
            .map(|cs| width(&cs.text[i]))
            .fold(c.header().len(), usize::max);
    }
    let room = usize::from(area.width).saturating_sub(width(CURSOR));
    let layout = columns::fit(&wanted, &natural, Some(room), GAP, view.columns.is_some());
    let header = TableRow::new(
        layout
            .iter()
            .map(|(c, w)| shorten(c.header(), *w, false).into_owned()),
    )
    .style(Style::default().add_modifier(Modifier::BOLD));
    let changed_style = if view.color {
        Style::default()
            .add_modifier(Modifier::BOLD)
            .bg(Color::DarkGray)
    } else {
        Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    };
    let body = rows.iter().zip(&cells).map(|(r, c)| {
        let row = TableRow::new(layout.iter().map(|&(col, w)| {
            if col == Column::State {
                Cell::from(Span::styled(
                    r.state.as_str(),
                    state_style(r.state, view.color),
                ))
            } else {
                Cell::from(shorten(&c.text[col.index()], w, col.cut_in_the_middle()).into_owned())
            }
        }));
        if view.changed.contains_key(&*r.name) {
            row.style(changed_style)
        } else {
            row
        }
    });
    let widths = layout
        .iter()
        .map(|(_, w)| Constraint::Length(u16::try_from(*w).unwrap_or(u16::MAX)));
    let mut state = TableState::default();
    if !rows.is_empty() {
        state.select(Some(selected));
    }
    let table = Table::new(body, widths)
        .header(header)
        .column_spacing(u16::try_from(GAP).unwrap_or(2))
        .highlight_symbol(CURSOR)
        .highlight_spacing(HighlightSpacing::Always)
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    f.render_stateful_widget(table, area, &mut state);
}

/// The detail pane over the table: everything about one client, its whole payload and
/// what this watcher saw it do.
fn draw_detail(
    f: &mut Frame<'_>,
    area: Rect,
    row: Option<&Row>,
    name: &str,
    view: &mut View,
    now: DateTime<Utc>,
) {
    let (fields, payload, history) =
        detail_parts(row, name, view.history.get(name), now, view.color);
    let title = shorten(
        &escape(name),
        usize::from(area.width).saturating_sub(4),
        true,
    )
    .into_owned();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "));
    let inner = block.inner(area);
    f.render_widget(Clear, area);
    f.render_widget(block, area);
    // Wide: the fields and the history on the left, the payload beside them; narrow: one
    // column, scrolled.
    let columns: Vec<(Rect, Vec<Line<'static>>)> = if area.width >= 100 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .spacing(2)
                .areas(inner);
        let mut l = fields;
        l.push(Line::from(""));
        l.extend(history);
        vec![(left, l), (right, payload)]
    } else {
        let mut l = fields;
        l.push(Line::from(""));
        l.extend(payload);
        l.push(Line::from(""));
        l.extend(history);
        vec![(inner, l)]
    };
    let longest = columns.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    view.detail_scroll = view
        .detail_scroll
        .min(u16::try_from(longest.saturating_sub(1)).unwrap_or(u16::MAX));
    for (rect, lines) in columns {
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((view.detail_scroll, 0)),
            rect,
        );
    }
}

/// A detail line per field, the payload, the history.
type Parts = (Vec<Line<'static>>, Vec<Line<'static>>, Vec<Line<'static>>);

/// The detail pane's text: every field escaped, a JSON payload pretty-printed.
pub fn detail_parts(
    row: Option<&Row>,
    name: &str,
    history: Option<&VecDeque<Seen>>,
    now: DateTime<Utc>,
    color: bool,
) -> Parts {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let field = |key: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{key:<10} "), bold),
            Span::raw(value),
        ])
    };
    let mut lines = vec![field("name", escape(name).into_owned())];
    match row {
        None => lines.push(Line::from(
            "(no longer in the table: its retained status was cleared)",
        )),
        Some(r) => {
            lines.push(Line::from(vec![
                Span::styled(format!("{:<10} ", "state"), bold),
                Span::styled(r.state.as_str(), state_style(r.state, color)),
            ]));
            lines.push(field(
                "detail",
                r.detail_text()
                    .map_or_else(|| "-".to_owned(), |d| escape(&d).into_owned()),
            ));
            lines.push(field("topic", escape(&r.topic).into_owned()));
            lines.push(field("source", escape(&r.source).into_owned()));
            lines.push(field(
                "since",
                match r.since {
                    Some(t) => format!("{} (for {})", Rfc3339::table(t).as_str(), age(t, now)),
                    None if r.retained => {
                        "retained: set before this watcher looked, the payload has no time"
                            .to_owned()
                    }
                    None => "-".to_owned(),
                },
            ));
            lines.push(field(
                "last seen",
                format!(
                    "{} ({} ago)",
                    Rfc3339::table(r.last_seen).as_str(),
                    age(r.last_seen, now)
                ),
            ));
            lines.push(field(
                "ip",
                r.ip()
                    .map_or_else(|| "-".to_owned(), |ip| escape(ip).into_owned()),
            ));
            if let Some(reported) = r.reported_name() {
                lines.push(field("reported", escape(reported).into_owned()));
            }
            lines.push(field("retained", r.retained.to_string()));
            lines.push(field("changes", r.changes.to_string()));
        }
    }
    let mut payload = vec![Line::styled("payload", bold)];
    match row.map(|r| &r.payload) {
        Some(Payload::Json(v)) => {
            let pretty = serde_json::to_string_pretty(&**v).unwrap_or_default();
            for l in pretty.lines() {
                payload.push(Line::from(format!("  {}", escape(l))));
            }
        }
        Some(Payload::Text(t)) if !t.is_empty() => {
            payload.push(Line::from(format!("  {}", escape(t))));
        }
        _ => payload.push(Line::from("  (empty)")),
    }
    let mut past = vec![Line::styled(
        format!("history (state changes this watcher saw, newest first, at most {HISTORY})"),
        bold,
    )];
    match history {
        Some(h) if !h.is_empty() => {
            for seen in h.iter().rev() {
                let to = seen.to.map_or("removed", State::as_str);
                let what = match seen.from {
                    None => format!("first seen {to}"),
                    Some(from) => format!("{from} -> {to}"),
                };
                past.push(Line::from(format!(
                    "  {}  {what}{}",
                    Rfc3339::table(seen.time).as_str(),
                    if seen.retained { " (retained)" } else { "" }
                )));
            }
        }
        _ => past.push(Line::from("  (none yet)")),
    }
    (lines, payload, past)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::status::{Change, Observation, Pattern, Source, Vocabulary};

    const LONG: &str = "a-rather-long-client-name-from-the-factory-floor-7";

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_255_201 + s, 0).unwrap()
    }

    fn registry() -> Registry {
        let mut r = Registry::new(
            vec![Source::topic(
                Pattern::parse("sensors/connected/#").unwrap(),
            )],
            Vocabulary::default(),
        );
        let long = format!("sensors/connected/{LONG}");
        for (topic, payload, retained) in [
            ("sensors/connected/sensor1", "1", false),
            (
                "sensors/connected/sensor2",
                r#"{"status":1,"ts":1795255201,"ip":"10.0.0.2","fw":"1.2.3"}"#,
                true,
            ),
            ("sensors/connected/sensor10", "0", true),
            (
                "sensors/connected/sensor11",
                r#"{"status":1,"ts":1700000000}"#,
                true,
            ),
            ("sensors/connected/evil\x1b[2J", "1\x1b[31m", false),
            (&*long, "1", true),
        ] {
            r.fold(
                &Observation {
                    topic,
                    payload: payload.as_bytes(),
                    retained,
                },
                t(0),
            );
        }
        r
    }

    fn view() -> View {
        View::new(
            "mqtt://broker.example.com:1883".into(),
            "sensors/connected/#".into(),
            SortKey::Name,
            false,
            false,
            false,
            None,
        )
    }

    fn screen(
        reg: &Registry,
        link: &Link,
        stale: Option<DateTime<Utc>>,
        v: &mut View,
        w: u16,
    ) -> String {
        screen_h(reg, link, stale, v, w, 14)
    }

    fn screen_h(
        reg: &Registry,
        link: &Link,
        stale: Option<DateTime<Utc>>,
        v: &mut View,
        w: u16,
        h: u16,
    ) -> String {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        let st = Status {
            registry: reg,
            link,
            stale_since: stale,
            syncing: false,
        };
        term.draw(|f| draw(f, &st, v, t(3600))).unwrap();
        let buf = term.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                let text: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
                text.trim_end().to_owned()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn row<'s>(screen: &'s str, name: &str) -> Option<&'s str> {
        screen.lines().find(|l| {
            l.trim_start_matches(CURSOR.trim_end())
                .split_whitespace()
                .next()
                == Some(name)
        })
    }

    fn press(v: &mut View, keys: &[KeyCode]) {
        for k in keys {
            assert!(v.key(*k, KeyModifiers::NONE));
        }
    }

    #[test]
    fn the_view_fits_80_60_and_40_columns_with_names_and_times_whole() {
        let reg = registry();
        let link = Link::Reconnecting {
            attempt: 3,
            reason: "connection to broker.example.com:1883 lost: the broker closed it".into(),
        };
        for w in [140, 80, 60, 40] {
            let mut v = view();
            let s = screen(&reg, &link, Some(t(1800)), &mut v, w);
            let header = s.lines().next().unwrap();
            assert!(
                header.contains("stale since 10:30:01Z  11:00:01Z"),
                "{w}: the times whole: {header}"
            );
            for name in ["sensor1", "sensor2", "sensor10", "sensor11"] {
                assert!(row(&s, name).is_some(), "{w}: {name} whole in\n{s}");
            }
            let long = s
                .lines()
                .find(|l| l.contains("a-rather"))
                .unwrap_or_else(|| panic!("{w}:\n{s}"));
            assert!(
                long.contains(LONG) || (long.contains('…') && long.contains("floor-7")),
                "{w}: {long}"
            );

            let table_head = s.lines().find(|l| l.contains("NAME")).unwrap();
            let r11 = row(&s, "sensor11").unwrap();
            if table_head.contains("FOR") {
                assert!(r11.contains("1102d 12h"), "{w}: {r11}");
            }
            if table_head.contains("SINCE") {
                assert!(r11.contains("2023-11-14 22:13:20Z"), "{w}: {r11}");
            }
            assert!(table_head.contains("STATE"), "{w}: {table_head}");
            assert!(s.contains("\\x1b[2J"), "escaped: {s}");
            assert!(!s.contains('\x1b'));
        }
        // Wide enough: every column, FOR in full.
        let mut v = view();
        let s = screen(&reg, &Link::Connected, None, &mut v, 160);
        assert!(
            s.starts_with("mqtt-scan mqtt://broker.example.com:1883  ● connected  11:00:01Z"),
            "{s}"
        );
        assert!(row(&s, "sensor11").unwrap().contains("1102d 12h"));
        assert!(
            s.lines().any(|l| l.contains("TOPIC") && l.contains("IP")),
            "{s}"
        );
    }

    #[test]
    fn the_source_column_shows_with_presets_and_columns_can_be_chosen() {
        let reg = registry();
        let mut v = view();
        v.source = true;
        let s = screen(&reg, &Link::Connected, None, &mut v, 200);
        assert!(s.lines().any(|l| l.contains("SOURCE")), "{s}");
        let mut v = view();
        v.columns = Some(vec![Column::Name, Column::Ip]);
        let s = screen(&reg, &Link::Connected, None, &mut v, 80);
        let head = s.lines().find(|l| l.contains("NAME")).unwrap();
        assert_eq!(
            head.split_whitespace().collect::<Vec<_>>(),
            ["NAME", "IP"],
            "{s}"
        );
    }

    #[test]
    fn enter_opens_the_selected_clients_detail_with_its_payload_and_history() {
        let reg = registry();
        let mut v = view();
        v.record(
            &[Happening::Change(Change {
                time: t(60),
                name: "sensor2".into(),
                from: Some(State::Offline),
                to: Some(State::Online),
                topic: "sensors/connected/sensor2".into(),
                payload: Payload::Text("1".into()),
                retained: false,
            })],
            Instant::now(),
        );
        // The cursor starts on the first row; Down moves it to sensor2 (the fourth).
        let s = screen(&reg, &Link::Connected, None, &mut v, 100);
        assert!(
            s.lines().any(|l| l.starts_with(CURSOR) && l.contains(LONG)),
            "the cursor on the first row:\n{s}"
        );
        press(&mut v, &[KeyCode::Down, KeyCode::Down, KeyCode::Down]);
        let s = screen(&reg, &Link::Connected, None, &mut v, 100);
        assert!(
            s.lines()
                .any(|l| l.starts_with(CURSOR) && l.contains("sensor2")),
            "{s}"
        );
        press(&mut v, &[KeyCode::Enter]);
        let s = screen_h(&reg, &Link::Connected, None, &mut v, 100, 40);
        assert!(s.contains(" sensor2 "), "titled: {s}");
        assert!(s.contains(r#""fw": "1.2.3""#), "pretty JSON: {s}");
        assert!(s.contains("10.0.0.2"), "{s}");
        assert!(s.contains("sensors/connected/sensor2"), "{s}");
        assert!(
            s.contains("2026-11-21 10:01:01Z  offline -> online"),
            "history: {s}"
        );
        assert!(s.contains("Esc/Enter/q close"), "{s}");
        press(&mut v, &[KeyCode::Esc]);
        let s = screen(&reg, &Link::Connected, None, &mut v, 100);
        assert!(!s.contains("\"fw\""), "closed: {s}");
        assert!(
            !v.key(KeyCode::Char('q'), KeyModifiers::NONE),
            "q quits the table"
        );
    }

    #[test]
    fn the_detail_of_a_hostile_client_is_escaped() {
        let reg = registry();
        let mut v = view();
        press(&mut v, &[KeyCode::Char('/')]);
        for c in "evil".chars() {
            press(&mut v, &[KeyCode::Char(c)]);
        }
        press(&mut v, &[KeyCode::Enter]);
        screen(&reg, &Link::Connected, None, &mut v, 80);
        press(&mut v, &[KeyCode::Enter]);
        let s = screen(&reg, &Link::Connected, None, &mut v, 80);
        assert!(s.contains("1\\x1b[31m"), "{s}");
        assert!(s.contains("evil\\x1b[2J"), "{s}");
        assert!(!s.contains('\x1b'));
    }

    #[test]
    fn slash_filters_names_and_esc_clears_it() {
        let reg = registry();
        let mut v = view();
        press(
            &mut v,
            &[KeyCode::Char('/'), KeyCode::Char('R'), KeyCode::Char('1')],
        );
        let s = screen(&reg, &Link::Connected, None, &mut v, 120);
        assert!(s.contains("/R1▏"), "typing shows in the footer: {s}");
        assert!(s.contains("filter: R1"), "and in the header: {s}");
        assert!(
            row(&s, "sensor1").is_some() && row(&s, "sensor10").is_some(),
            "{s}"
        );
        assert!(row(&s, "sensor2").is_none(), "{s}");
        // While typing, letters are text, not keys: `q` does not quit.
        assert!(v.key(KeyCode::Char('q'), KeyModifiers::NONE));
        press(
            &mut v,
            &[KeyCode::Backspace, KeyCode::Char('0'), KeyCode::Enter],
        );
        let s = screen(&reg, &Link::Connected, None, &mut v, 120);
        assert!(
            row(&s, "sensor10").is_some() && row(&s, "sensor1").is_none(),
            "{s}"
        );
        assert!(s.contains("filter: R10") && !s.contains('▏'), "kept: {s}");
        press(
            &mut v,
            &[KeyCode::Char('/'), KeyCode::Char('x'), KeyCode::Char('y')],
        );
        let s = screen(&reg, &Link::Connected, None, &mut v, 120);
        assert!(s.contains("no client name contains \"R10xy\""), "{s}");
        press(&mut v, &[KeyCode::Esc]);
        let s = screen(&reg, &Link::Connected, None, &mut v, 120);
        assert!(!s.contains("filter:"), "cleared: {s}");
        assert!(row(&s, "sensor2").is_some(), "{s}");
    }

    #[test]
    fn a_history_keeps_the_last_50_changes() {
        let mut v = view();
        for i in 0..60 {
            v.record(
                &[Happening::Change(Change {
                    time: t(i),
                    name: "s".into(),
                    from: Some(State::Online),
                    to: Some(State::Offline),
                    topic: "t".into(),
                    payload: Payload::Text("0".into()),
                    retained: false,
                })],
                Instant::now(),
            );
        }
        let h = &v.history["s"];
        assert_eq!(h.len(), HISTORY);
        assert_eq!(h.front().unwrap().time, t(10));
    }
}
