//! The view's own state: sort, filters, selection, scroll, highlights, history, keys.

#[allow(clippy::wildcard_imports)]
use super::*;

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
    pub(super) offset: usize,
    /// Rows per page, from the last draw (for PgUp/PgDn).
    pub(super) page: usize,
    /// The selected row's place in the rows shown, and its name (from the last draw): the
    /// selection stays on its client while the table re-sorts, unless a key moved it.
    pub(super) cursor: usize,
    pub(super) cursor_name: Option<String>,
    pub(super) moved: bool,
    /// The client whose detail pane is open, and how far it is scrolled.
    pub(super) detail: Option<String>,
    pub(super) detail_scroll: u16,
    /// The name filter (`/`): a case-insensitive substring; `editing` while it is typed.
    pub(super) filter: String,
    pub(super) editing: bool,
    pub(super) changed: HashMap<String, Instant>,
    pub(super) history: HashMap<String, VecDeque<Seen>>,
    pub(super) message: Option<String>,
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
                    self.remember(c);
                }
                Happening::Snapshot { rows, .. } => {
                    for c in rows {
                        self.remember(c);
                    }
                }
                Happening::Warning(msg) => self.message = Some(msg.clone()),
                Happening::Broker { .. } => {}
            }
        }
    }

    fn remember(&mut self, c: &Change) {
        if c.to.is_none() && self.detail.as_deref() != Some(&*c.name) {
            // Removed, and nobody is looking: its history goes with it (memory stays
            // bounded by the table).
            self.history.remove(&c.name);
            return;
        }
        let h = self.history.entry(c.name.clone()).or_default();
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(Seen {
            time: c.time,
            from: c.from,
            to: c.to,
            retained: c.retained,
        });
    }

    /// Whether a row passes the name filter, given in lower case (a case-insensitive
    /// substring of the name as shown).
    pub(super) fn shows(filter: &str, name: &str) -> bool {
        escape(name).to_lowercase().contains(filter)
    }

    pub(super) fn move_cursor(&mut self, to: usize) {
        self.cursor = to;
        self.moved = true;
    }

    /// Applies a key; false means quit.
    pub(super) fn key(&mut self, code: KeyCode, modifiers: KeyModifiers) -> bool {
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
