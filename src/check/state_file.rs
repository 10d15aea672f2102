//! `--state-file`: what earlier runs saw, kept across runs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What earlier runs saw (`--state-file`): when each judged client was first seen offline
/// (None: it was already offline, since an unknown time, when first seen), and which were
/// online.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub first_offline: BTreeMap<String, Option<DateTime<Utc>>>,
    #[serde(default)]
    pub online: BTreeSet<String>,
}

/// `--state-file`: what earlier runs saw, across runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    /// Format version; a file without it is not ours.
    pub mqtt_scan_state: u32,
    #[serde(flatten)]
    pub memory: Memory,
}

pub const STATE_VERSION: u32 = 1;

impl StateFile {
    /// Reads a state file's text; an error says why it is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let state: Self = serde_json::from_str(text).map_err(|e| {
            if e.is_data() {
                "not an mqtt-scan state file".to_owned()
            } else {
                format!("not an mqtt-scan state file (corrupt: {e})")
            }
        })?;
        if state.mqtt_scan_state != STATE_VERSION {
            return Err(format!(
                "state file version {} is not the version {STATE_VERSION} this mqtt-scan writes",
                state.mqtt_scan_state
            ));
        }
        Ok(state)
    }
}
