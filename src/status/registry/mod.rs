//! The fold: status messages in, one row per client name out. Pure: time is a parameter.
//!
//! Rows live in one dense `Vec` and a table of (position, hash) pairs finds them by name:
//! growing the index moves 8 bytes a row and reads no row, and a 100k snapshot never holds
//! two copies of the rows.

mod event;
#[cfg(test)]
mod event_tests;
mod homie;
mod row;
mod sparkplug;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use event::{is_generated_client_id, GENERATED_PREFIX};
pub use row::{Change, Extra, Observation, Outcome, Row, SortKey, Source, Summary};

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hashbrown::{DefaultHashBuilder, HashTable};

use super::natural::natural_cmp;
use super::payload::{self, Detail, Payload, State, Vocabulary};
use super::presets::{Naming, Rule};

/// An index entry: the row's position and its name's hash.
#[derive(Debug, Clone, Copy)]
struct Slot {
    row: u32,
    hash: u32,
}

fn fold_hash(h: u64) -> u32 {
    // The upper half folded in: the cast keeps the low 32 bits on purpose.
    #[allow(clippy::cast_possible_truncation)]
    let short = (h ^ (h >> 32)) as u32;
    short
}

/// The 32 bits an index hash was made from (see `expand_hash`).
fn low_half(h: u64) -> u32 {
    // The low half on purpose.
    #[allow(clippy::cast_possible_truncation)]
    let low = h as u32;
    low
}

/// The 64-bit hash hashbrown wants, from the 32 bits the index keeps (its control bits
/// come from the top, its bucket from the bottom: both get real bits).
fn expand_hash(h: u32) -> u64 {
    u64::from(h) << 32 | u64::from(h)
}

/// The next [`Registry::id`].
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub struct Registry {
    sources: Vec<Source>,
    vocab: Vocabulary,
    rows: Vec<Row>,
    index: HashTable<Slot>,
    hasher: DefaultHashBuilder,
    epoch: u32,
    /// This table's own number, 1 and up (see `id`).
    id: u64,
    /// Moves on with every change to the rows (a fold, a sweep, a since set): what was
    /// rendered at one version is still right while it stays.
    version: u64,
    /// Moves on when a row is added or removed (see `layout`).
    layout: u64,
    /// Sparkplug: each node's last birth's bdSeq.
    births: HashMap<String, Option<u64>>,
    /// Homie 5: each device's root device.
    roots: HashMap<String, String>,
    /// Client ids whose connect and disconnect events are not rows (our own).
    hidden: Vec<Box<str>>,
}

impl Registry {
    pub fn new(sources: Vec<Source>, vocab: Vocabulary) -> Self {
        Self {
            sources,
            vocab,
            rows: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            epoch: 0,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            version: 0,
            layout: 0,
            births: HashMap::new(),
            roots: HashMap::new(),
            hidden: Vec::new(),
        }
    }

    /// A broker's events about this client id (ours: `--client-id`, `--session`) make no
    /// row; nor do those about the ids mqtt-scan generates (see `is_generated_client_id`).
    pub fn hide(&mut self, client_id: &str) {
        self.version += 1;
        if !self.hidden.iter().any(|h| &**h == client_id) {
            self.hidden.push(client_id.into());
        }
    }

    /// Which table this is: unique in the process, so that what was kept of one table's
    /// `version` and `layout` is never taken for another's.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The rows' version: the same number, the same rows (see `version`).
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn position(&self, name: &str, hash: u64) -> Option<usize> {
        let rows = &self.rows;
        let short = low_half(hash);
        self.index
            .find(hash, |s| {
                s.hash == short && &*rows[s.row as usize].name == name
            })
            .map(|s| s.row as usize)
    }

    /// The index's hash of a name: 32 bits, kept in the index beside the row, so growing
    /// the index never reads the rows (a cache miss each, at 100,000 rows).
    fn hash(&self, name: &str) -> u64 {
        expand_hash(fold_hash(self.hasher.hash_one(name)))
    }

    pub fn get(&self, name: &str) -> Option<&Row> {
        let i = self.position(name, self.hash(name))?;
        Some(&self.rows[i])
    }

    /// Sets a row's `since` (from the history database: the broker's payload gave none).
    /// False when there is no such row.
    pub fn set_since(&mut self, name: &str, since: Option<DateTime<Utc>>) -> bool {
        self.version += 1;
        let Some(i) = self.position(name, self.hash(name)) else {
            return false;
        };
        self.rows[i].since = since;
        self.rows[i].touched = self.version;
        true
    }

    /// Folds one message into the table.
    pub fn fold(&mut self, obs: &Observation<'_>, now: DateTime<Utc>) -> Outcome {
        self.fold_into(obs, now, None).0
    }

    /// Folds one message and describes every change it made: its own row's, and those it
    /// made for others (a Sparkplug node's death takes its devices; a lost Homie root its
    /// children).
    pub fn apply(&mut self, obs: &Observation<'_>, now: DateTime<Utc>, out: &mut Vec<Change>) {
        let first = out.len();
        let (outcome, name) = self.fold_into(obs, now, Some(out));
        if let (Outcome::Changed { from, to }, Some(name)) = (outcome, name) {
            let name = name.into_owned();
            let payload = match to {
                Some(_) => self
                    .get(&name)
                    .map_or(Payload::Text("".into()), |r| r.payload.clone()),
                None => Payload::Text("".into()),
            };
            // The message's own change first, then what it caused.
            out.insert(
                first,
                Change {
                    time: now,
                    name,
                    from,
                    to,
                    topic: obs.topic.to_owned(),
                    payload,
                    retained: obs.retained,
                },
            );
        }
    }

    /// Folds one message; the outcome, and the name of the row it was about (for
    /// `apply`'s change, without matching the topic and reading the payload again).
    fn fold_into<'a>(
        &mut self,
        obs: &Observation<'a>,
        now: DateTime<Utc>,
        out: Option<&mut Vec<Change>>,
    ) -> (Outcome, Option<std::borrow::Cow<'a, str>>) {
        self.version += 1;
        // The name borrows from the topic (nearly always): it is owned only on insert.
        let Some((wildcards, source)) = self.source_of(obs.topic) else {
            return (Outcome::NoMatch, None);
        };
        let Some(name) = self.named(source, obs.topic, Some(obs.payload), wildcards) else {
            // The payload names no client (garbage, or an empty or missing id): no row.
            return (Outcome::Unchanged, None);
        };
        let outcome = self.fold_named(&name, source, obs, now, out);
        (outcome, Some(name))
    }

    fn fold_named(
        &mut self,
        name: &str,
        source: usize,
        obs: &Observation<'_>,
        now: DateTime<Utc>,
        mut out: Option<&mut Vec<Change>>,
    ) -> Outcome {
        let rule = self.sources[source].rule;
        let mut parsed = match rule {
            Rule::Payload => {
                if obs.payload.is_empty() {
                    // A cleared retained message: the client's status is gone.
                    let hash = self.hash(name);
                    return match self.position(name, hash) {
                        Some(i) => Outcome::Changed {
                            from: Some(self.remove(i, hash).state),
                            to: None,
                        },
                        None => Outcome::Unchanged,
                    };
                }
                payload::parse(obs.payload, &self.vocab)
            }
            Rule::HomieDescription => {
                self.homie_description(name, obs.payload, now, out.as_deref_mut());
                return Outcome::Unchanged;
            }
            Rule::Event { online, fields } => {
                let Some(parsed) = self.event(name, online, fields, obs.payload, now) else {
                    // Our own connection, or older news than the row has.
                    return Outcome::Unchanged;
                };
                parsed
            }
            Rule::NodeBirth | Rule::NodeDeath | Rule::DeviceBirth | Rule::DeviceDeath => {
                let Some(parsed) = self.sparkplug(name, rule, obs.payload) else {
                    // A death that does not end the node's last birth: stale, ignored.
                    return Outcome::Unchanged;
                };
                parsed
            }
        };
        let lost_now = self.homie_inherit_lost(name, &mut parsed);
        let outcome = self.upsert(name, obs, parsed, source, now);
        if matches!(outcome, Outcome::Changed { .. }) {
            if rule == Rule::NodeDeath {
                self.node_death_cascade(name, now, out);
            } else if lost_now {
                self.lost_root_cascade(name, now, out);
            }
        }
        outcome
    }

    /// Inserts or updates a row from a parsed message.
    fn upsert(
        &mut self,
        name: &str,
        obs: &Observation<'_>,
        parsed: payload::Parsed,
        source: usize,
        now: DateTime<Utc>,
    ) -> Outcome {
        let label = &self.sources[source].label;
        let hash = self.hash(name);
        let found = self.position(name, hash);
        // Without a timestamp in the payload, a retained message says nothing about when.
        let since = parsed.ts.or((!obs.retained).then_some(now));
        let extra = (parsed.ip.is_some() || parsed.reported_name.is_some() || parsed.ts.is_some())
            .then(|| {
                Box::new(Extra {
                    ip: parsed.ip,
                    reported_name: parsed.reported_name,
                    ts: parsed.ts,
                })
            });
        if let Some(i) = found {
            let row = &mut self.rows[i];
            let from = row.state;
            if from != parsed.state {
                row.since = since;
                row.changes = row.changes.saturating_add(1);
            }
            row.state = parsed.state;
            row.detail = parsed.detail;
            if *row.topic != *obs.topic {
                row.topic = obs.topic.into();
            }
            row.payload = parsed.payload;
            row.retained = obs.retained;
            row.last_seen = now;
            row.epoch = self.epoch;
            row.retained_ever |= obs.retained;
            row.touched = self.version;
            row.extra = extra;
            if !Arc::ptr_eq(&row.source, label) {
                row.source = Arc::clone(label);
            }
            return if from == parsed.state {
                Outcome::Unchanged
            } else {
                Outcome::Changed {
                    from: Some(from),
                    to: Some(parsed.state),
                }
            };
        }
        let state = parsed.state;
        let row = Row {
            name: name.into(),
            state,
            detail: parsed.detail,
            topic: obs.topic.into(),
            payload: parsed.payload,
            retained: obs.retained,
            since,
            last_seen: now,
            changes: 0,
            extra,
            source: Arc::clone(label),
            epoch: self.epoch,
            retained_ever: obs.retained,
            touched: self.version,
        };
        let at = u32::try_from(self.rows.len()).expect("fewer than 4 billion clients");
        self.layout += 1;
        self.rows.push(row);
        let slot = Slot {
            row: at,
            hash: low_half(hash),
        };
        self.index
            .insert_unique(hash, slot, |s| expand_hash(s.hash));
        Outcome::Changed {
            from: None,
            to: Some(state),
        }
    }

    /// Takes the rows `which` selects (given a row, its name, and the cause's name) offline
    /// with `detail`, reporting each change.
    pub(super) fn cascade(
        &mut self,
        cause: &str,
        detail: &str,
        now: DateTime<Utc>,
        mut out: Option<&mut Vec<Change>>,
        which: impl Fn(&Row, &str, &str) -> bool,
    ) {
        for row in &mut self.rows {
            if row.state == State::Offline || !which(row, &row.name, cause) {
                continue;
            }
            let from = row.state;
            row.state = State::Offline;
            row.detail = Detail::Value(Box::new(serde_json::Value::String(detail.to_owned())));
            row.since = Some(now);
            row.changes = row.changes.saturating_add(1);
            row.touched = self.version;
            if let Some(out) = out.as_deref_mut() {
                out.push(Change {
                    time: now,
                    name: row.name.to_string(),
                    from: Some(from),
                    to: Some(State::Offline),
                    topic: row.topic.to_string(),
                    payload: row.payload.clone(),
                    retained: false,
                });
            }
        }
    }

    /// The client name `topic` stands for, if it is a status topic: the name its row has
    /// (a preset's fixed name, such as Zigbee2MQTT's `bridge`, included). None too where
    /// the payload names the client (aedes, NanoMQ).
    pub fn name_of<'t>(&self, topic: &'t str) -> Option<std::borrow::Cow<'t, str>> {
        let (wildcards, source) = self.source_of(topic)?;
        self.named(source, topic, None, wildcards)
    }

    /// Whether statuses on `topic` are retained by their convention (the payload says the
    /// state: a re-sync from the retained store judges them), rather than events that are
    /// never retained (Sparkplug's births and deaths, a broker's connect events).
    pub fn retained_by_convention(&self, topic: &str) -> bool {
        self.source_of(topic)
            .is_some_and(|(_, i)| self.sources[i].rule == Rule::Payload)
    }

    /// The first source whose pattern matches `topic`, and what its wildcards matched.
    fn source_of<'t>(&self, topic: &'t str) -> Option<(std::borrow::Cow<'t, str>, usize)> {
        self.sources
            .iter()
            .enumerate()
            .find_map(|(i, s)| Some((s.pattern.name(topic)?, i)))
    }

    /// The name source `source` gives a message (`payload` None: the topic alone).
    fn named<'a>(
        &self,
        source: usize,
        topic: &'a str,
        payload: Option<&'a [u8]>,
        wildcards: std::borrow::Cow<'a, str>,
    ) -> Option<std::borrow::Cow<'a, str>> {
        use std::borrow::Cow;
        let s = &self.sources[source];
        match s.naming {
            Naming::Wildcards => Some(wildcards),
            Naming::Fixed(name) => Some(Cow::Borrowed(name)),
            Naming::Wildcard(i) => s.pattern.wildcard(topic, i).map(Cow::Borrowed),
            Naming::Payload => event::payload_name(payload?),
            Naming::Field(field) => event::field_name(payload?, field).map(Cow::Owned),
        }
    }

    /// The sync generation that last refreshed the row `topic` names, if there is one.
    pub fn epoch_of(&self, topic: &str) -> Option<u32> {
        self.get(&self.name_of(topic)?).map(|r| r.epoch)
    }

    /// Starts a re-sync from the retained store: every row the coming snapshot does not
    /// refresh is gone from the broker, and [`Registry::sweep`] takes it out.
    pub fn begin_sync(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        self.epoch
    }

    /// Removes the rows not seen since `begin_sync` returned `epoch`, as removal changes.
    /// Only rows that ever came from the retained store are judged: a status that is never
    /// retained (Sparkplug's births and deaths) cannot be missing from it.
    pub fn sweep(&mut self, epoch: u32, now: DateTime<Utc>) -> Vec<Change> {
        self.version += 1;
        let mut gone = Vec::new();
        // From the end: the row that swap_remove moves into a slot was already checked.
        for i in (0..self.rows.len()).rev() {
            if self.rows[i].epoch != epoch && self.rows[i].retained_ever {
                let hash = self.hash(&self.rows[i].name);
                let row = self.remove(i, hash);
                gone.push(Change {
                    time: now,
                    name: row.name.into(),
                    from: Some(row.state),
                    to: None,
                    topic: row.topic.into(),
                    payload: Payload::Text("".into()),
                    retained: false,
                });
            }
        }
        gone.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        gone
    }

    /// Takes row `i` out: the last row moves into its slot and its index entry follows.
    fn remove(&mut self, i: usize, hash: u64) -> Row {
        if let Ok(entry) = self.index.find_entry(hash, |s| s.row as usize == i) {
            entry.remove();
        }
        self.layout += 1;
        let row = self.rows.swap_remove(i);
        if let Some(moved) = self.rows.get(i) {
            let old = u32::try_from(self.rows.len()).expect("fewer than 4 billion clients");
            let moved_hash = self.hash(&moved.name);
            if let Some(slot) = self.index.find_mut(moved_hash, |s| s.row == old) {
                slot.row = u32::try_from(i).expect("fewer than 4 billion clients");
            }
        }
        row
    }

    /// Counts over the whole table (before any `--only`).
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            total: self.rows.len(),
            ..Summary::default()
        };
        for row in &self.rows {
            match row.state {
                State::Online => s.online += 1,
                State::Offline => s.offline += 1,
                State::Unknown => s.unknown += 1,
            }
        }
        s
    }

    /// Moves on when a row comes or goes (and only then): the rows' places in the table,
    /// and so an [`Registry::name_order`], stay while it does.
    pub fn layout(&self) -> u64 {
        self.layout
    }

    /// The rows' places in the table, in natural name order (`rows(SortKey::Name, None)`
    /// as places): for [`Registry::at`] while [`Registry::layout`] stays.
    pub fn name_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..u32::try_from(self.rows.len()).unwrap_or(u32::MAX)).collect();
        order.sort_unstable_by(|&a, &b| {
            natural_cmp(&self.rows[a as usize].name, &self.rows[b as usize].name)
        });
        order
    }

    /// The row at this place (from [`Registry::name_order`] at the current layout).
    pub fn at(&self, place: u32) -> Option<&Row> {
        self.rows.get(place as usize)
    }

    /// The rows to show: filtered by `only`, sorted by `sort`.
    pub fn rows(&self, sort: SortKey, only: Option<State>) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| only.is_none_or(|s| r.state == s))
            .collect();
        rows.sort_unstable_by(|a, b| {
            let by_name = || natural_cmp(&a.name, &b.name);
            match sort {
                SortKey::Name => by_name(),
                SortKey::State => a.state.cmp(&b.state).then_with(by_name),
                SortKey::Since => match (a.since, b.since) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then_with(by_name),
            }
        });
        rows
    }
}
