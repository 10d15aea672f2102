//! Homie 5: a device whose root device is lost is lost too.

use chrono::{DateTime, Utc};

use super::{Change, Registry, Row};
use crate::status::payload::{self, Detail, State};

fn is_lost(row: &Row) -> bool {
    row.detail_text()
        .is_some_and(|d| d.eq_ignore_ascii_case("lost"))
}

impl Registry {
    /// A device of a lost root reads as lost, whatever it says itself; returns whether the
    /// message's row is now lost (then its children follow, see `lost_root_cascade`). Only
    /// once some device has a root: no other fleet pays for the lookups.
    pub(super) fn homie_inherit_lost(&self, name: &str, parsed: &mut payload::Parsed) -> bool {
        if self.roots.is_empty() {
            return false;
        }
        if let Some(root) = self.roots.get(name) {
            if self.get(root).is_some_and(is_lost) {
                parsed.state = State::Offline;
                parsed.detail = Detail::Value(Box::new(serde_json::Value::String("lost".into())));
            }
        }
        parsed.detail.is(&parsed.payload, "lost")
    }

    /// A root just lost takes the devices that name it as their root with it.
    pub(super) fn lost_root_cascade(
        &mut self,
        root: &str,
        now: DateTime<Utc>,
        out: Option<&mut Vec<Change>>,
    ) {
        let children: Vec<String> = self
            .roots
            .iter()
            .filter(|(_, r)| r.as_str() == root)
            .map(|(c, _)| c.clone())
            .collect();
        self.cascade(root, "lost", now, out, |_, n, _| {
            children.iter().any(|c| c == n)
        });
    }

    /// Homie 5: remembers a device's root; if that root is lost, so is the device.
    pub(super) fn homie_description(
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
}
