//! Renderers: rows in, bytes out. Pure: no clock (time is a parameter), no terminal checks.

pub mod csv;
pub mod json;
pub mod table;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::status::{Row, Summary};

/// One finished scan, as every format shows it.
#[derive(Debug, Serialize)]
pub struct Scan<'a> {
    /// The broker URL, password masked.
    pub broker: &'a str,
    pub topics: &'a [String],
    pub scanned_at: DateTime<Utc>,
    pub complete: bool,
    pub summary: Summary,
    pub clients: Vec<&'a Row>,
}

/// RFC 3339 UTC, fractions only when there are any (`2026-11-21T10:00:01Z`).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A detail value as one word of text: strings as they are, `true`, `2`.
pub fn detail_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
