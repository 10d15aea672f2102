//! The fold: status messages in, one row per client name out. Pure: time is a parameter.
//!
//! Rows live in one dense `Vec` and a table of (position, hash) pairs finds them by name:
//! growing the index moves 8 bytes a row and reads no row, and a 100k snapshot never holds
//! two copies of the rows.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hashbrown::{DefaultHashBuilder, HashTable};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::natural::natural_cmp;
use super::pattern::Pattern;
use super::payload::{self, Detail, Payload, State, Vocabulary};
use super::presets::Rule;
use super::rfc3339;
use super::sparkplug;

/// One message as the session saw it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    /// Came from the broker's retained store (not a live publish).
    pub retained: bool,
}

/// A status pattern and the convention it belongs to (`topic` for `-t`, else a preset).
#[derive(Debug, Clone)]
pub struct Source {
    pub pattern: Pattern,
    pub label: Arc<str>,
    pub rule: Rule,
    /// The client name for every topic this pattern matches (a preset's fixed topic).
    pub fixed_name: Option<&'static str>,
}

impl Source {
    /// A `-t` pattern: payloads say the state, wildcards say the name.
    pub fn topic(pattern: Pattern) -> Self {
        Self {
            pattern,
            label: "topic".into(),
            rule: Rule::Payload,
            fixed_name: None,
        }
    }
}

/// Fields only some payloads carry, kept out of line so a plain row stays small.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extra {
    pub ip: Option<String>,
    pub reported_name: Option<String>,
    /// The time the last payload carried (`since` moves only when the state changes).
    pub ts: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: Box<str>,
    pub state: State,
    pub detail: Detail,
    pub topic: Box<str>,
    pub payload: Payload,
    pub retained: bool,
    pub since: Option<DateTime<Utc>>,
    pub last_seen: DateTime<Utc>,
    pub changes: u32,
    pub extra: Option<Box<Extra>>,
    pub source: Arc<str>,
    /// The sync generation that last saw this row (see [`Registry::begin_sync`]).
    pub epoch: u32,
    /// Some message for this row came from the retained store: a re-sync may judge it.
    pub retained_ever: bool,
}

impl Row {
    pub fn ip(&self) -> Option<&str> {
        self.extra.as_ref()?.ip.as_deref()
    }

    pub fn reported_name(&self) -> Option<&str> {
        self.extra.as_ref()?.reported_name.as_deref()
    }

    /// The timestamp of the last payload, if it had one.
    pub fn payload_ts(&self) -> Option<DateTime<Utc>> {
        self.extra.as_ref()?.ts
    }

    pub fn detail_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.detail.text(&self.payload)
    }
}

/// The SPEC's row object, fields in its order.
impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("Row", 12)?;
        r.serialize_field("name", &self.name)?;
        r.serialize_field("state", &self.state)?;
        r.serialize_field("detail", &self.detail.as_json(&self.payload))?;
        r.serialize_field("topic", &self.topic)?;
        r.serialize_field("payload", &self.payload)?;
        r.serialize_field("retained", &self.retained)?;
        r.serialize_field("since", &rfc3339::opt(self.since))?;
        r.serialize_field("last_seen", &rfc3339::Time(self.last_seen))?;
        r.serialize_field("ip", &self.ip())?;
        r.serialize_field("changes", &self.changes)?;
        r.serialize_field("reported_name", &self.reported_name())?;
        r.serialize_field("source", &*self.source)?;
        r.end()
    }
}

/// A state change, as `watch` reports it: a row appeared (`from` None), changed state, or
/// was removed (`to` None).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub time: DateTime<Utc>,
    pub name: String,
    pub from: Option<State>,
    pub to: Option<State>,
    pub topic: String,
    pub payload: Payload,
    pub retained: bool,
}

impl Change {
    /// `to` as a word: the state, or `removed`.
    pub fn to_word(&self) -> &'static str {
        self.to.map_or("removed", State::as_str)
    }
}

/// `{"event":"change","time","name","from","to","topic","payload","retained"}`.
impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut r = s.serialize_struct("Change", 8)?;
        r.serialize_field("event", "change")?;
        r.serialize_field("time", &rfc3339::Time(self.time))?;
        r.serialize_field("name", &self.name)?;
        r.serialize_field("from", &self.from)?;
        r.serialize_field("to", self.to_word())?;
        r.serialize_field("topic", &self.topic)?;
        r.serialize_field("payload", &self.payload)?;
        r.serialize_field("retained", &self.retained)?;
        r.end()
    }
}

fn is_lost(row: &Row) -> bool {
    row.detail_text()
        .is_some_and(|d| d.eq_ignore_ascii_case("lost"))
}

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

/// What one message did to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The topic matched no pattern.
    NoMatch,
    /// The row was refreshed; its state stayed.
    Unchanged,
    /// A row appeared (`from` None), changed state, or was removed (`to` None).
    Changed {
        from: Option<State>,
        to: Option<State>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SortKey {
    /// Natural order of names (`sensor2` before `sensor10`).
    #[default]
    Name,
    /// Offline first, then unknown, then online; by name within each.
    State,
    /// Oldest state change first, unknown times last.
    Since,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Summary {
    pub total: usize,
    pub online: usize,
    pub offline: usize,
    pub unknown: usize,
}

#[derive(Clone)]
pub struct Registry {
    sources: Vec<Source>,
    vocab: Vocabulary,
    rows: Vec<Row>,
    index: HashTable<Slot>,
    hasher: DefaultHashBuilder,
    epoch: u32,
    /// Sparkplug: each node's last birth's bdSeq.
    births: HashMap<String, Option<u64>>,
    /// Homie 5: each device's root device.
    roots: HashMap<String, String>,
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
            births: HashMap::new(),
            roots: HashMap::new(),
        }
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

    /// Folds one message into the table.
    pub fn fold(&mut self, obs: &Observation<'_>, now: DateTime<Utc>) -> Outcome {
        self.fold_into(obs, now, None)
    }

    /// Folds one message and describes every change it made: its own row's, and those it
    /// made for others (a Sparkplug node's death takes its devices; a lost Homie root its
    /// children).
    pub fn apply(&mut self, obs: &Observation<'_>, now: DateTime<Utc>, out: &mut Vec<Change>) {
        let first = out.len();
        let outcome = self.fold_into(obs, now, Some(out));
        if let Outcome::Changed { from, to } = outcome {
            let Some(name) = self.name_of(obs.topic).map(std::borrow::Cow::into_owned) else {
                return;
            };
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

    fn fold_into(
        &mut self,
        obs: &Observation<'_>,
        now: DateTime<Utc>,
        mut out: Option<&mut Vec<Change>>,
    ) -> Outcome {
        // The name borrows from the topic (nearly always): it is owned only on insert.
        let Some((name, source)) = self.source_of(obs.topic) else {
            return Outcome::NoMatch;
        };
        let rule = self.sources[source].rule;
        let mut parsed = match rule {
            Rule::Payload => {
                if obs.payload.is_empty() {
                    // A cleared retained message: the client's status is gone.
                    let hash = self.hash(name.as_ref());
                    return match self.position(&name, hash) {
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
                self.homie_description(&name, obs.payload, now, out.as_deref_mut());
                return Outcome::Unchanged;
            }
            Rule::NodeBirth | Rule::NodeDeath | Rule::DeviceBirth | Rule::DeviceDeath => {
                let Some(parsed) = self.sparkplug(&name, rule, obs.payload) else {
                    // A death that does not end the node's last birth: stale, ignored.
                    return Outcome::Unchanged;
                };
                parsed
            }
        };
        // Homie 5: a device whose root is lost is lost too. (Only once some device has a
        // root: no other fleet pays for the lookups.)
        let mut lost_now = false;
        if !self.roots.is_empty() {
            if let Some(root) = self.roots.get(name.as_ref()) {
                if self.get(root).is_some_and(is_lost) {
                    parsed.state = State::Offline;
                    parsed.detail =
                        Detail::Value(Box::new(serde_json::Value::String("lost".into())));
                }
            }
            lost_now = parsed.detail.is(&parsed.payload, "lost");
        }
        let outcome = self.upsert(&name, obs, parsed, source, now);
        if matches!(outcome, Outcome::Changed { .. }) {
            if rule == Rule::NodeDeath {
                self.cascade(&name, "NDEATH", now, out.as_deref_mut(), |_, n, node| {
                    n.len() > node.len() + 1
                        && n.starts_with(node)
                        && n.as_bytes()[node.len()] == b'/'
                });
            } else if lost_now {
                let roots = &self.roots;
                let children: Vec<String> = roots
                    .iter()
                    .filter(|(_, root)| **root == *name)
                    .map(|(c, _)| c.clone())
                    .collect();
                self.cascade(&name, "lost", now, out, |_, n, _| {
                    children.iter().any(|c| c == n)
                });
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
        };
        let at = u32::try_from(self.rows.len()).expect("fewer than 4 billion clients");
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
    fn cascade(
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

    /// A Sparkplug birth or death as a parsed status; None for a stale death.
    fn sparkplug(&mut self, name: &str, rule: Rule, bytes: &[u8]) -> Option<payload::Parsed> {
        let cert = sparkplug::decode(bytes).unwrap_or_default();
        let (state, word) = match rule {
            Rule::NodeBirth => (State::Online, "NBIRTH"),
            Rule::NodeDeath => (State::Offline, "NDEATH"),
            Rule::DeviceBirth => (State::Online, "DBIRTH"),
            _ => (State::Offline, "DDEATH"),
        };
        match rule {
            Rule::NodeBirth => {
                self.births.insert(name.to_owned(), cert.bd_seq);
            }
            Rule::NodeDeath => {
                // The spec: a death whose bdSeq is not the last birth's ends an older
                // session, and must not mark a reborn node offline.
                if let (Some(Some(birth)), Some(death)) = (self.births.get(name), cert.bd_seq) {
                    if *birth != death {
                        return None;
                    }
                }
            }
            _ => {}
        }
        let mut summary = serde_json::Map::new();
        summary.insert("type".into(), word.into());
        if let Some(bd) = cert.bd_seq {
            summary.insert("bdSeq".into(), bd.into());
        }
        if let Some(seq) = cert.seq {
            summary.insert("seq".into(), seq.into());
        }
        if let Some(ts) = cert.timestamp {
            summary.insert("timestamp".into(), ts.into());
        }
        // The range a payload's time has: past year 9999 no RFC 3339 output can write it.
        let ts = cert
            .timestamp
            .and_then(|ms| i64::try_from(ms).ok())
            .and_then(payload::from_millis);
        Some(payload::Parsed {
            state,
            detail: Detail::Value(Box::new(word.into())),
            ts,
            ip: None,
            reported_name: None,
            payload: Payload::Json(Box::new(serde_json::Value::Object(summary))),
        })
    }

    /// Homie 5: remembers a device's root; if that root is lost, so is the device.
    fn homie_description(
        &mut self,
        name: &str,
        bytes: &[u8],
        now: DateTime<Utc>,
        out: Option<&mut Vec<Change>>,
    ) {
        let root = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get("root")?.as_str().map(ToOwned::to_owned));
        match root {
            Some(root) if root != name => {
                let lost = self.get(&root).is_some_and(is_lost);
                self.roots.insert(name.to_owned(), root.clone());
                if lost {
                    let child = name.to_owned();
                    self.cascade(&root, "lost", now, out, |_, n, _| n == child);
                }
            }
            _ => {
                self.roots.remove(name);
            }
        }
    }

    /// The client name `topic` stands for, if it is a status topic: the name its row has
    /// (a preset's fixed name, such as Zigbee2MQTT's `bridge`, included).
    pub fn name_of<'t>(&self, topic: &'t str) -> Option<std::borrow::Cow<'t, str>> {
        self.source_of(topic).map(|(name, _)| name)
    }

    /// The first source whose pattern matches `topic`, and the name it gives.
    fn source_of<'t>(&self, topic: &'t str) -> Option<(std::borrow::Cow<'t, str>, usize)> {
        self.sources.iter().enumerate().find_map(|(i, s)| {
            let name = s.pattern.name(topic)?;
            Some((s.fixed_name.map_or(name, std::borrow::Cow::Borrowed), i))
        })
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
                    retained: true,
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn registry(patterns: &[&str]) -> Registry {
        let sources = patterns
            .iter()
            .map(|p| Source::topic(Pattern::parse(p).unwrap()))
            .collect();
        Registry::new(sources, Vocabulary::default())
    }

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_000_000 + s, 0).unwrap()
    }

    fn obs<'a>(topic: &'a str, payload: &'a str, retained: bool) -> Observation<'a> {
        Observation {
            topic,
            payload: payload.as_bytes(),
            retained,
        }
    }

    #[test]
    fn online_to_offline_counts_a_change_and_moves_since() {
        let mut r = registry(&["sensors/connected/#"]);
        let out = r.fold(&obs("sensors/connected/s1", "1", false), t(0));
        assert_eq!(
            out,
            Outcome::Changed {
                from: None,
                to: Some(State::Online)
            }
        );
        assert_eq!(r.get("s1").unwrap().since, Some(t(0)));
        let out = r.fold(&obs("sensors/connected/s1", "0", false), t(5));
        assert_eq!(
            out,
            Outcome::Changed {
                from: Some(State::Online),
                to: Some(State::Offline)
            }
        );
        let row = r.get("s1").unwrap();
        assert_eq!(
            (row.state, row.since, row.changes, row.last_seen),
            (State::Offline, Some(t(5)), 1, t(5))
        );
    }

    #[test]
    fn same_state_refreshes_last_seen_but_keeps_since() {
        let mut r = registry(&["sensors/connected/#"]);
        r.fold(&obs("sensors/connected/s1", "1", false), t(0));
        let out = r.fold(&obs("sensors/connected/s1", "online", false), t(9));
        assert_eq!(out, Outcome::Unchanged);
        let row = r.get("s1").unwrap();
        assert_eq!(
            (row.since, row.last_seen, row.changes),
            (Some(t(0)), t(9), 0)
        );
        assert_eq!(row.detail_text().as_deref(), Some("online"));
    }

    #[test]
    fn empty_payload_removes_the_row() {
        let mut r = registry(&["sensors/connected/#"]);
        r.fold(&obs("sensors/connected/s1", "1", true), t(0));
        let out = r.fold(&obs("sensors/connected/s1", "", false), t(1));
        assert_eq!(
            out,
            Outcome::Changed {
                from: Some(State::Online),
                to: None
            }
        );
        assert!(r.get("s1").is_none());
        assert_eq!(
            r.fold(&obs("sensors/connected/s1", "", false), t(2)),
            Outcome::Unchanged
        );
    }

    #[test]
    fn retained_then_live() {
        let mut r = registry(&["sensors/connected/#"]);
        r.fold(&obs("sensors/connected/s1", "1", true), t(0));
        let row = r.get("s1").unwrap();
        assert!(row.retained);
        assert_eq!(
            row.since, None,
            "a retained message without a timestamp has no since"
        );
        r.fold(&obs("sensors/connected/s1", "0", false), t(3));
        let row = r.get("s1").unwrap();
        assert!(!row.retained);
        assert_eq!(
            (row.state, row.since, row.changes),
            (State::Offline, Some(t(3)), 1)
        );
    }

    #[test]
    fn payload_timestamp_wins_over_arrival_time() {
        let mut r = registry(&["sensors/connected/#"]);
        r.fold(
            &obs(
                "sensors/connected/s1",
                r#"{"status":1,"ts":1795000000}"#,
                true,
            ),
            t(50),
        );
        assert_eq!(r.get("s1").unwrap().since, Some(t(0)));
    }

    #[test]
    fn unmatched_topics_are_ignored_and_first_pattern_names() {
        let mut r = registry(&["a/+/status", "a/#"]);
        assert_eq!(r.fold(&obs("b/x", "1", false), t(0)), Outcome::NoMatch);
        r.fold(&obs("a/dev/status", "1", false), t(0));
        assert!(r.get("dev").is_some());
        r.fold(&obs("a/other", "1", false), t(0));
        assert!(r.get("other").is_some());
    }

    #[test]
    fn removal_keeps_every_other_row_findable() {
        let mut r = registry(&["s/#"]);
        for i in 0..1000 {
            r.fold(&obs(&format!("s/n{i}"), "1", true), t(0));
        }
        // Remove from the front, the middle and the end: the last row moves each time.
        for i in (0..1000).step_by(3) {
            let out = r.fold(&obs(&format!("s/n{i}"), "", false), t(1));
            assert_eq!(
                out,
                Outcome::Changed {
                    from: Some(State::Online),
                    to: None
                }
            );
        }
        for i in 0..1000 {
            assert_eq!(r.get(&format!("n{i}")).is_some(), i % 3 != 0, "n{i}");
        }
        assert_eq!(r.len(), 666);
        r.fold(&obs("s/n0", "0", false), t(2));
        assert_eq!(r.get("n0").unwrap().state, State::Offline);
    }

    fn applied(r: &mut Registry, o: &Observation<'_>, at: DateTime<Utc>) -> Vec<Change> {
        let mut out = Vec::new();
        r.apply(o, at, &mut out);
        out
    }

    #[test]
    fn apply_describes_each_change() {
        let mut r = registry(&["sensors/connected/#"]);
        let c = applied(&mut r, &obs("sensors/connected/s1", "1", true), t(0)).remove(0);
        assert_eq!(
            (c.name.as_str(), c.from, c.to, c.retained),
            ("s1", None, Some(State::Online), true)
        );
        assert!(
            applied(&mut r, &obs("sensors/connected/s1", "online", false), t(1)).is_empty(),
            "same state"
        );
        let c = applied(&mut r, &obs("sensors/connected/s1", "0", false), t(2)).remove(0);
        assert_eq!(
            (c.from, c.to, c.time),
            (Some(State::Online), Some(State::Offline), t(2))
        );
        assert_eq!(c.payload, Payload::Text("0".into()));
        let c = applied(&mut r, &obs("sensors/connected/s1", "", false), t(3)).remove(0);
        assert_eq!((c.from, c.to_word()), (Some(State::Offline), "removed"));
        assert!(applied(&mut r, &obs("other/x", "1", false), t(4)).is_empty());
    }

    fn preset_registry(names: &[&str]) -> Registry {
        let mut sources = Vec::new();
        for name in names {
            let p = crate::status::presets::find(name).unwrap();
            for topic in p.topics {
                sources.push(Source {
                    pattern: Pattern::parse(topic.pattern).unwrap(),
                    label: p.name.into(),
                    rule: topic.rule,
                    fixed_name: topic.name,
                });
            }
        }
        Registry::new(sources, Vocabulary::default())
    }

    fn cert(bd: u64) -> Vec<u8> {
        crate::status::sparkplug::encode(&crate::status::sparkplug::Certificate {
            timestamp: Some(1_795_000_000_000),
            seq: Some(0),
            bd_seq: Some(bd),
        })
    }

    fn raw<'a>(topic: &'a str, payload: &'a [u8]) -> Observation<'a> {
        Observation {
            topic,
            payload,
            retained: false,
        }
    }

    #[test]
    fn sparkplug_births_deaths_stale_deaths_and_devices() {
        let mut r = preset_registry(&["sparkplug"]);
        let (b1, b2) = (cert(1), cert(2));
        r.fold(&raw("spBv1.0/plant/NBIRTH/edge", &b1), t(0));
        r.fold(&raw("spBv1.0/plant/DBIRTH/edge/pump", &b1), t(0));
        assert_eq!(r.get("plant/edge").unwrap().state, State::Online);
        assert_eq!(r.get("plant/edge").unwrap().source.as_ref(), "sparkplug");
        assert_eq!(
            r.get("plant/edge/pump").unwrap().detail_text().as_deref(),
            Some("DBIRTH")
        );
        // The node is reborn (bdSeq 2); the old session's death (bdSeq 1) arrives late.
        r.fold(&raw("spBv1.0/plant/NBIRTH/edge", &b2), t(1));
        assert!(
            applied(&mut r, &raw("spBv1.0/plant/NDEATH/edge", &b1), t(2)).is_empty(),
            "stale"
        );
        assert_eq!(r.get("plant/edge").unwrap().state, State::Online);
        // The real death takes the node and its devices offline.
        let changes = applied(&mut r, &raw("spBv1.0/plant/NDEATH/edge", &b2), t(3));
        let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["plant/edge", "plant/edge/pump"]);
        assert!(changes.iter().all(|c| c.to == Some(State::Offline)));
        assert_eq!(
            r.get("plant/edge/pump").unwrap().detail_text().as_deref(),
            Some("NDEATH")
        );
        // A device death alone.
        r.fold(&raw("spBv1.0/plant/DBIRTH/edge/valve", &b2), t(4));
        r.fold(&raw("spBv1.0/plant/DDEATH/edge/valve", &b2), t(5));
        assert_eq!(r.get("plant/edge/valve").unwrap().state, State::Offline);
        // Host applications' STATE, JSON (3.0) and plain (2.2).
        r.fold(
            &raw(
                "spBv1.0/STATE/scada",
                br#"{"online":true,"timestamp":1795000000000}"#,
            ),
            t(6),
        );
        r.fold(&raw("STATE/old-scada", b"OFFLINE"), t(6));
        assert_eq!(r.get("scada").unwrap().state, State::Online);
        assert_eq!(r.get("old-scada").unwrap().state, State::Offline);
    }

    #[test]
    fn homie_5_children_of_a_lost_root_are_lost() {
        let mut r = preset_registry(&["homie"]);
        r.fold(&raw("homie/5/hub/$state", b"ready"), t(0));
        r.fold(
            &raw(
                "homie/5/sensor/$description",
                br#"{"homie":"5.0","root":"hub","parent":"hub"}"#,
            ),
            t(0),
        );
        r.fold(&raw("homie/5/sensor/$state", b"ready"), t(0));
        r.fold(&raw("homie/old/$state", b"sleeping"), t(0));
        let changes = applied(&mut r, &raw("homie/5/hub/$state", b"lost"), t(1));
        let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["hub", "sensor"]);
        assert_eq!(
            r.get("sensor").unwrap().detail_text().as_deref(),
            Some("lost")
        );
        // Its own "ready" while the root is lost does not bring it back.
        r.fold(&raw("homie/5/sensor/$state", b"ready"), t(2));
        assert_eq!(r.get("sensor").unwrap().state, State::Offline);
        assert_eq!(
            r.get("old").unwrap().detail_text().as_deref(),
            Some("sleeping")
        );
    }

    #[test]
    fn zigbee2mqtt_names_the_bridge_and_keeps_slashes_in_friendly_names() {
        let mut r = preset_registry(&["zigbee2mqtt"]);
        r.fold(
            &raw("zigbee2mqtt/bridge/state", br#"{"state":"online"}"#),
            t(0),
        );
        r.fold(
            &raw("zigbee2mqtt/living/lamp/availability", b"offline"),
            t(0),
        );
        r.fold(
            &raw("zigbee2mqtt/plug/availability", br#"{"state":"online"}"#),
            t(0),
        );
        assert_eq!(r.get("bridge").unwrap().state, State::Online);
        assert_eq!(r.get("living/lamp").unwrap().state, State::Offline);
        assert_eq!(r.get("plug").unwrap().state, State::Online);
        assert_eq!(
            r.fold(&raw("zigbee2mqtt/plug", b"{}"), t(0)),
            Outcome::NoMatch,
            "device data is not status"
        );
    }

    #[test]
    fn a_sparkplug_time_past_year_9999_is_no_time() {
        let mut r = preset_registry(&["sparkplug"]);
        let birth = |ms| {
            sparkplug::encode(&sparkplug::Certificate {
                timestamp: Some(ms),
                seq: None,
                bd_seq: None,
            })
        };
        r.fold(
            &raw("spBv1.0/g/NBIRTH/e", &birth(253_402_300_800_000)),
            t(0),
        );
        assert_eq!(r.get("g/e").unwrap().since, Some(t(0)));
        r.fold(&raw("spBv1.0/g/NBIRTH/f", &birth(1_000_000_000_000)), t(0));
        assert_eq!(
            r.get("g/f").unwrap().since,
            Utc.timestamp_millis_opt(1_000_000_000_000).single()
        );
    }

    #[test]
    fn a_fixed_name_is_the_name_changes_and_lookups_use() {
        // Found by the `fold` fuzz target: `apply` reported the bridge's changes under its
        // topic, and `name_of` (watch's sync, prune's check) missed its row.
        let mut r = preset_registry(&["zigbee2mqtt"]);
        let topic = "zigbee2mqtt/bridge/state";
        assert_eq!(r.name_of(topic).as_deref(), Some("bridge"));
        let c = applied(&mut r, &raw(topic, br#"{"state":"online"}"#), t(0)).remove(0);
        assert_eq!((c.name.as_str(), c.to), ("bridge", Some(State::Online)));
        let c = applied(&mut r, &raw(topic, b"offline"), t(1)).remove(0);
        assert_eq!((c.name.as_str(), c.to), ("bridge", Some(State::Offline)));
        assert_eq!(c.payload, Payload::Text("offline".into()));
        assert_eq!(r.epoch_of(topic), Some(0));
    }

    #[test]
    fn a_sync_sweeps_the_rows_it_did_not_see() {
        let mut r = registry(&["s/#"]);
        for n in ["a", "b", "c", "d"] {
            r.fold(&obs(&format!("s/{n}"), "1", true), t(0));
        }
        r.fold(&obs("s/live-only", "1", false), t(0));
        let epoch = r.begin_sync();
        r.fold(&obs("s/b", "1", true), t(1));
        r.fold(&obs("s/d", "0", true), t(1));
        let gone = r.sweep(epoch, t(2));
        let names: Vec<&str> = gone.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert!(gone
            .iter()
            .all(|c| c.to.is_none() && c.from == Some(State::Online)));
        assert_eq!(r.len(), 3);
        assert!(r.get("b").is_some() && r.get("d").is_some());
        assert!(
            r.get("live-only").is_some(),
            "never retained: not the store's to judge"
        );
    }

    #[test]
    fn sort_and_filter() {
        let mut r = registry(&["s/#"]);
        for (name, p, time) in [
            ("n10", "1", 3),
            ("n2", "0", 1),
            ("n1", "x", 2),
            ("n3", "1", 0),
        ] {
            r.fold(&obs(&format!("s/{name}"), p, false), t(time));
        }
        r.fold(&obs("s/old", "1", true), t(4));
        let names = |v: Vec<&Row>| v.iter().map(|r| r.name.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(r.rows(SortKey::Name, None)),
            ["n1", "n2", "n3", "n10", "old"]
        );
        assert_eq!(
            names(r.rows(SortKey::State, None)),
            ["n2", "n1", "n3", "n10", "old"]
        );
        assert_eq!(
            names(r.rows(SortKey::Since, None)),
            ["n3", "n2", "n1", "n10", "old"]
        );
        assert_eq!(
            names(r.rows(SortKey::Name, Some(State::Online))),
            ["n3", "n10", "old"]
        );
        assert_eq!(
            r.summary(),
            Summary {
                total: 5,
                online: 3,
                offline: 1,
                unknown: 1
            }
        );
    }
}
