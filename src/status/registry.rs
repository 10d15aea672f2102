//! The fold: status messages in, one row per client name out. Pure: time is a parameter.
//!
//! Rows live in one dense `Vec` and a table of `u32` indexes finds them by name: growing the
//! index moves 4 bytes a row, not the row, so a 100k snapshot never holds two copies.

use std::hash::BuildHasher;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hashbrown::{DefaultHashBuilder, HashTable};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::natural::natural_cmp;
use super::pattern::Pattern;
use super::payload::{self, Detail, Payload, State, Vocabulary};

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
        r.serialize_field("detail", &self.detail.value(&self.payload))?;
        r.serialize_field("topic", &self.topic)?;
        r.serialize_field("payload", &self.payload)?;
        r.serialize_field("retained", &self.retained)?;
        r.serialize_field("since", &self.since)?;
        r.serialize_field("last_seen", &self.last_seen)?;
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
        r.serialize_field("time", &self.time)?;
        r.serialize_field("name", &self.name)?;
        r.serialize_field("from", &self.from)?;
        r.serialize_field("to", self.to_word())?;
        r.serialize_field("topic", &self.topic)?;
        r.serialize_field("payload", &self.payload)?;
        r.serialize_field("retained", &self.retained)?;
        r.end()
    }
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
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    epoch: u32,
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
        self.index
            .find(hash, |&i| &*rows[i as usize].name == name)
            .map(|&i| i as usize)
    }

    pub fn get(&self, name: &str) -> Option<&Row> {
        let i = self.position(name, self.hasher.hash_one(name))?;
        Some(&self.rows[i])
    }

    /// Folds one message into the table.
    pub fn fold(&mut self, obs: &Observation<'_>, now: DateTime<Utc>) -> Outcome {
        let Some((name, source)) = self
            .sources
            .iter()
            .find_map(|s| Some((s.pattern.name(obs.topic)?, &s.label)))
        else {
            return Outcome::NoMatch;
        };
        let hash = self.hasher.hash_one(&*name);
        let found = self.position(&name, hash);
        if obs.payload.is_empty() {
            // A cleared retained message: the client's status is gone.
            return match found {
                Some(i) => Outcome::Changed {
                    from: Some(self.remove(i, hash).state),
                    to: None,
                },
                None => Outcome::Unchanged,
            };
        }
        let parsed = payload::parse(obs.payload, &self.vocab);
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
            if !Arc::ptr_eq(&row.source, source) {
                row.source = Arc::clone(source);
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
            source: Arc::clone(source),
            epoch: self.epoch,
            retained_ever: obs.retained,
        };
        let at = u32::try_from(self.rows.len()).expect("fewer than 4 billion clients");
        self.rows.push(row);
        let (rows, hasher) = (&self.rows, &self.hasher);
        self.index
            .insert_unique(hash, at, |&i| hasher.hash_one(&*rows[i as usize].name));
        Outcome::Changed {
            from: None,
            to: Some(state),
        }
    }

    /// Folds one message and describes the change it made, if it made one.
    pub fn apply(&mut self, obs: &Observation<'_>, now: DateTime<Utc>) -> Option<Change> {
        let Outcome::Changed { from, to } = self.fold(obs, now) else {
            return None;
        };
        let name = self
            .sources
            .iter()
            .find_map(|s| s.pattern.name(obs.topic))?
            .into_owned();
        let payload = match to {
            Some(_) => self
                .get(&name)
                .map_or(Payload::Text("".into()), |r| r.payload.clone()),
            None => Payload::Text("".into()),
        };
        Some(Change {
            time: now,
            name,
            from,
            to,
            topic: obs.topic.to_owned(),
            payload,
            retained: obs.retained,
        })
    }

    /// The client name `topic` stands for, if it is a status topic.
    pub fn name_of<'t>(&self, topic: &'t str) -> Option<std::borrow::Cow<'t, str>> {
        self.sources.iter().find_map(|s| s.pattern.name(topic))
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
                let hash = self.hasher.hash_one(&*self.rows[i].name);
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
        if let Ok(entry) = self.index.find_entry(hash, |&j| j as usize == i) {
            entry.remove();
        }
        let row = self.rows.swap_remove(i);
        if let Some(moved) = self.rows.get(i) {
            let old = u32::try_from(self.rows.len()).expect("fewer than 4 billion clients");
            let moved_hash = self.hasher.hash_one(&*moved.name);
            if let Some(slot) = self.index.find_mut(moved_hash, |&j| j == old) {
                *slot = u32::try_from(i).expect("fewer than 4 billion clients");
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
            .map(|p| Source {
                pattern: Pattern::parse(p).unwrap(),
                label: "topic".into(),
            })
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

    #[test]
    fn apply_describes_each_change() {
        let mut r = registry(&["sensors/connected/#"]);
        let c = r
            .apply(&obs("sensors/connected/s1", "1", true), t(0))
            .unwrap();
        assert_eq!(
            (c.name.as_str(), c.from, c.to, c.retained),
            ("s1", None, Some(State::Online), true)
        );
        assert!(
            r.apply(&obs("sensors/connected/s1", "online", false), t(1))
                .is_none(),
            "same state"
        );
        let c = r
            .apply(&obs("sensors/connected/s1", "0", false), t(2))
            .unwrap();
        assert_eq!(
            (c.from, c.to, c.time),
            (Some(State::Online), Some(State::Offline), t(2))
        );
        assert_eq!(c.payload, Payload::Text("0".into()));
        let c = r
            .apply(&obs("sensors/connected/s1", "", false), t(3))
            .unwrap();
        assert_eq!((c.from, c.to_word()), (Some(State::Offline), "removed"));
        assert!(r.apply(&obs("other/x", "1", false), t(4)).is_none());
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
