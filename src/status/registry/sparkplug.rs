//! Sparkplug B: births and deaths paired by bdSeq, and a node's death taking its devices.

use chrono::{DateTime, Utc};

use super::{Change, Registry};
use crate::status::payload::{self, Detail, Payload, State};
use crate::status::presets::Rule;
use crate::status::sparkplug;

impl Registry {
    /// A Sparkplug birth or death as a parsed status; None for a stale death.
    pub(super) fn sparkplug(
        &mut self,
        name: &str,
        rule: Rule,
        bytes: &[u8],
    ) -> Option<payload::Parsed> {
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

    /// A node's death takes its devices (`group/edge/device`) offline with it.
    pub(super) fn node_death_cascade(
        &mut self,
        node: &str,
        now: DateTime<Utc>,
        out: Option<&mut Vec<Change>>,
    ) {
        self.cascade(node, "NDEATH", now, out, |_, n, node| {
            n.len() > node.len() + 1 && n.starts_with(node) && n.as_bytes()[node.len()] == b'/'
        });
    }
}
