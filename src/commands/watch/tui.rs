//! `watch` on a terminal: full screen, redrawn on a tick (at most 10 times a second) when
//! something changed, never per message. The terminal is restored on every way out: `q`,
//! Ctrl-C, SIGTERM, SIGINT, an error (the guard's Drop) and a panic (ratatui's hook).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table};
use ratatui::Frame;
use tokio::sync::mpsc;

use super::core::{Happening, Link, Watcher};
use super::{ChangeLog, Signals};
use crate::error::Exit;
use crate::render::table::{age, clients};
use crate::status::{escape, Row, SortKey, State};

/// How long a changed row stays highlighted.
const HIGHLIGHT: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(100);

/// What the view shows besides the table: sort, filter, scroll, highlights.
pub struct View {
    pub broker: String,
    pub topics: String,
    pub sort: SortKey,
    pub offline_only: bool,
    pub color: bool,
    offset: usize,
    /// Rows per page, from the last draw (for PgUp/PgDn).
    page: usize,
    changed: HashMap<String, Instant>,
    message: Option<String>,
}

impl View {
    pub fn new(
        broker: String,
        topics: String,
        sort: SortKey,
        offline_only: bool,
        color: bool,
    ) -> Self {
        Self {
            broker,
            topics,
            sort,
            offline_only,
            color,
            offset: 0,
            page: 10,
            changed: HashMap::new(),
            message: None,
        }
    }

    /// Applies a key; false means quit.
    fn key(&mut self, code: KeyCode, modifiers: KeyModifiers) -> bool {
        match code {
            KeyCode::Char('q') | KeyCode::Esc => return false,
            KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => return false,
            KeyCode::Up | KeyCode::Char('k') => self.offset = self.offset.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.offset = self.offset.saturating_add(1),
            KeyCode::PageUp => self.offset = self.offset.saturating_sub(self.page),
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.offset = self.offset.saturating_add(self.page);
            }
            KeyCode::Home | KeyCode::Char('g') => self.offset = 0,
            KeyCode::End | KeyCode::Char('G') => self.offset = usize::MAX,
            KeyCode::Char('s') => {
                self.sort = match self.sort {
                    SortKey::Name => SortKey::State,
                    SortKey::State => SortKey::Since,
                    SortKey::Since => SortKey::Name,
                };
            }
            KeyCode::Char('o') => {
                self.offline_only = !self.offline_only;
                self.offset = 0;
            }
            _ => {}
        }
        true
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
                    let now = Instant::now();
                    for h in happenings {
                        match h {
                            Happening::Change(c) => {
                                view.changed.insert(c.name, now);
                            }
                            Happening::Warning(msg) => view.message = Some(msg),
                            Happening::Broker { .. } | Happening::Snapshot { .. } => {}
                        }
                    }
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
                    if let Err(e) = terminal.draw(|f| draw(f, &w, &mut view, Utc::now())) {
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
                    if let Err(e) = terminal.draw(|f| draw(f, &w, &mut view, Utc::now())) {
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

/// Draws the whole screen: two header lines, the table, a footer.
pub fn draw(f: &mut Frame<'_>, w: &Watcher, view: &mut View, now: DateTime<Utc>) {
    let [head, table_area, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let counts = w.counts();
    let link = match (&w.link, w.syncing()) {
        (Link::Connected, true) => {
            Span::styled("● connected, syncing", Style::default().fg(Color::Yellow))
        }
        (Link::Connected, false) => {
            Span::styled("● connected", state_style(State::Online, view.color))
        }
        (Link::Reconnecting { attempt, reason }, _) => Span::styled(
            format!("○ reconnecting (attempt {attempt}): {}", escape(reason)),
            state_style(State::Offline, view.color),
        ),
    };
    let mut first = vec![
        Span::styled("mqtt-scan ", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("{}  ", view.broker)),
        link,
    ];
    if let Some(since) = w.stale_since {
        first.push(Span::styled(
            format!("  stale since {}", since.format("%H:%M:%SZ")),
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    first.push(Span::raw(format!("  {}", now.format("%H:%M:%SZ"))));
    let rows = w
        .registry
        .rows(view.sort, view.offline_only.then_some(State::Offline));
    let height = usize::from(table_area.height.saturating_sub(1)).max(1);
    view.page = height;
    view.offset = view.offset.min(rows.len().saturating_sub(height));
    let second = Line::from(vec![
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
        Span::raw(format!(
            "   sort: {}{}   rows {}-{} of {}   topics: {}",
            match view.sort {
                SortKey::Name => "name",
                SortKey::State => "state",
                SortKey::Since => "since",
            },
            if view.offline_only {
                "   offline only"
            } else {
                ""
            },
            if rows.is_empty() { 0 } else { view.offset + 1 },
            (view.offset + height).min(rows.len()),
            rows.len(),
            view.topics
        )),
    ]);
    f.render_widget(Paragraph::new(vec![Line::from(first), second]), head);
    draw_table(
        f,
        table_area,
        &rows[view.offset..(view.offset + height).min(rows.len())],
        view,
        now,
    );
    let footer = match &view.message {
        Some(m) => Line::from(Span::styled(
            format!("warning: {}", escape(m)),
            Style::default().fg(Color::Yellow),
        )),
        None => Line::from("q quit   ↑↓ PgUp PgDn Home End scroll   s sort   o offline only"),
    };
    f.render_widget(
        Paragraph::new(footer).style(Style::default().add_modifier(Modifier::DIM)),
        foot,
    );
}

fn draw_table(f: &mut Frame<'_>, area: Rect, rows: &[&Row], view: &View, now: DateTime<Utc>) {
    let header = TableRow::new(["NAME", "STATE", "DETAIL", "SINCE", "FOR", "IP", "TOPIC"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let body = rows.iter().map(|r| {
        let (since, held) = match r.since {
            Some(t) => (t.format("%Y-%m-%d %H:%M:%SZ").to_string(), age(t, now)),
            None if r.retained => ("retained".to_owned(), "-".to_owned()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let row = TableRow::new(vec![
            Cell::from(escape(&r.name).into_owned()),
            Cell::from(Span::styled(
                r.state.as_str(),
                state_style(r.state, view.color),
            )),
            Cell::from(
                r.detail_text()
                    .map_or_else(|| "-".to_owned(), |d| escape(&d).into_owned()),
            ),
            Cell::from(since),
            Cell::from(held),
            Cell::from(
                r.ip()
                    .map_or_else(|| "-".to_owned(), |ip| escape(ip).into_owned()),
            ),
            Cell::from(escape(&r.topic).into_owned()),
        ]);
        if view.changed.contains_key(&*r.name) {
            row.style(Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED))
        } else {
            row
        }
    });
    // As wide as the longest name on screen, within reason; the topic takes the rest.
    let name_width = rows
        .iter()
        .map(|r| escape(&r.name).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40);
    let widths = [
        Constraint::Length(u16::try_from(name_width).unwrap_or(40)),
        Constraint::Length(7),
        Constraint::Length(12),
        Constraint::Length(20),
        Constraint::Length(8),
        Constraint::Length(15),
        Constraint::Min(20),
    ];
    f.render_widget(
        Table::new(body, widths).header(header).column_spacing(2),
        area,
    );
}
