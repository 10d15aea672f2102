//! Nagios threshold ranges (`-w/--warning`, `-c/--critical`).

use serde::Serialize;

/// A threshold range in the Monitoring Plugins syntax
/// (<https://nagios-plugins.org/doc/guidelines.html#THRESHOLDFORMAT>): `10` (alert above
/// 10), `10:` (below 10), `~:10` (above 10), `10:20` (outside 10..20), `@10:20` (inside
/// 10..20, inclusive). Kept as written, for perfdata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// None: minus infinity (`~`).
    start: Option<i64>,
    /// None: infinity.
    end: Option<i64>,
    inside: bool,
    text: String,
}

impl Range {
    /// Parses a range; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (inside, body) = match t.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let number = |s: &str| -> Result<i64, String> {
            s.parse::<i64>().map_err(|_| {
                format!("'{s}' is not a whole number (ranges: 10, 10:, ~:10, 10:20, @10:20)")
            })
        };
        let (start, end) = match body.split_once(':') {
            Some((lo, hi)) => {
                let start = match lo {
                    "~" => None,
                    "" => Some(0),
                    n => Some(number(n)?),
                };
                let end = if hi.is_empty() {
                    None
                } else {
                    Some(number(hi)?)
                };
                (start, end)
            }
            None if body.is_empty() => {
                return Err("empty range (ranges: 10, 10:, ~:10, 10:20, @10:20)".into())
            }
            None => (Some(0), Some(number(body)?)),
        };
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(format!("range {t}: the start is above the end"));
            }
        }
        Ok(Self {
            start,
            end,
            inside,
            text: t.to_owned(),
        })
    }

    /// Whether `value` raises the alert: outside the range (or inside, with `@`).
    pub fn alerts(&self, value: usize) -> bool {
        let v = i64::try_from(value).unwrap_or(i64::MAX);
        let within = self.start.is_none_or(|s| v >= s) && self.end.is_none_or(|e| v <= e);
        within == self.inside
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for Range {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}
