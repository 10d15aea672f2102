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
use super::{Afterwards, Signals};
use crate::error::Exit;
use crate::render::columns::{shorten, width, Column};
use crate::render::table::{self, age, clients};
use crate::status::rfc3339::Rfc3339;
use crate::status::{escape, Change, Payload, Registry, Row, SortKey, State};

mod draw;
#[cfg(test)]
mod tests;
mod view;

pub use draw::draw;
use view::Seen;
pub use view::View;

/// How long a changed row stays highlighted.
const HIGHLIGHT: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(100);
/// State changes kept per client for the detail pane.
pub const HISTORY: usize = 50;
/// Spaces between table columns.
const GAP: usize = 2;
/// The selection cursor, in a gutter left of the table.
const CURSOR: &str = "▶ ";

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
    mut after: Afterwards,
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
                    if let Err(e) = after.on_batch(&mut w, &happenings) {
                        break Err(e);
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
                    // That draw showed every change so far: the tick need not draw again.
                    dirty = false;
                }
                Some(_) => dirty = true,
                None => break Err(anyhow::anyhow!("cannot read the keyboard")),
            },
            _ = tick.tick() => {
                let second = Utc::now().timestamp();
                let highlighted = view.changed.len();
                view.changed.retain(|_, t| t.elapsed() < HIGHLIGHT);
                let faded = view.changed.len() != highlighted;
                if dirty || faded || second != last_second {
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
