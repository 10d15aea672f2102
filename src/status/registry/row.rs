//! What the fold takes and gives: observations in; rows, changes and summaries out, with
//! the JSON shapes the SPEC gives them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::status::pattern::Pattern;
use crate::status::payload::{Detail, Payload, State};
use crate::status::presets::{Naming, PresetTopic, Rule};
use crate::status::rfc3339;

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
    /// Where a matching message's client name comes from.
    pub naming: Naming,
}

impl Source {
    /// A `-t` pattern: payloads say the state, wildcards say the name.
    pub fn topic(pattern: Pattern) -> Self {
        Self {
            pattern,
            label: "topic".into(),
            rule: Rule::Payload,
            naming: Naming::Wildcards,
        }
    }

    /// A preset's topic, its pattern parsed, labelled with the preset's name.
    pub fn preset(
        topic: &PresetTopic,
        label: Arc<str>,
    ) -> Result<Self, crate::status::pattern::PatternError> {
        Ok(Self {
            pattern: Pattern::parse(topic.pattern)?,
            label,
            rule: topic.rule,
            naming: topic.name,
        })
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
    /// The table's [`Registry::version`](super::Registry::version) at this row's last
    /// change: what was rendered of it at a later version is still right.
    pub touched: u64,
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
    /// A row as a first sighting (`from` None): how a snapshot is reported.
    pub fn sighting(row: &Row, time: DateTime<Utc>) -> Self {
        Self {
            time,
            name: row.name.to_string(),
            from: None,
            to: Some(row.state),
            topic: row.topic.to_string(),
            payload: row.payload.clone(),
            retained: row.retained,
        }
    }

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
