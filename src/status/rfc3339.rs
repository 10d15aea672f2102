//! RFC 3339 UTC times exactly as chrono writes them (`2026-11-21T10:00:01Z`, fractions only
//! when there are any: 3, 6 or 9 digits), without chrono's formatting machinery. A row has
//! two times and `list` writes them by the hundred thousand: through chrono's serde
//! support each one went character by character through `fmt` and the JSON escaper, two
//! thirds of the whole run's instructions for 100,000 rows.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Serialize, Serializer};

/// A formatted time on the stack.
pub struct Rfc3339 {
    buf: [u8; 40],
    len: usize,
}

impl Rfc3339 {
    pub fn new(t: DateTime<Utc>) -> Self {
        let nanos = t.nanosecond();
        // Years outside 0..=9999 and leap seconds: chrono's own (rare) way.
        if nanos >= 1_000_000_000 {
            return Self::text(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
        let Some(mut out) = Self::date_time(t, b'T', 0) else {
            return Self::text(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        };
        if nanos != 0 {
            out.push(b'.');
            if nanos.is_multiple_of(1_000_000) {
                out.digits(nanos / 1_000_000, 3);
            } else if nanos.is_multiple_of(1_000) {
                out.digits(nanos / 1_000, 6);
            } else {
                out.digits(nanos, 9);
            }
        }
        out.push(b'Z');
        out
    }

    /// `2026-11-21 10:00:01Z`, as the table shows a time: seconds, a space for the `T`.
    pub fn table(t: DateTime<Utc>) -> Self {
        // A leap second shows as :60, as chrono shows it.
        let leap = u32::from(t.nanosecond() >= 1_000_000_000);
        let Some(mut out) = Self::date_time(t, b' ', leap) else {
            return Self::text(&t.format("%Y-%m-%d %H:%M:%SZ").to_string());
        };
        out.push(b'Z');
        out
    }

    /// `YYYY-MM-DD?hh:mm:ss`, or None for years outside 0..=9999.
    fn date_time(t: DateTime<Utc>, separator: u8, leap: u32) -> Option<Self> {
        let year = t.year();
        if !(0..=9999).contains(&year) {
            return None;
        }
        let mut out = Self::text("");
        let year = year.unsigned_abs();
        out.digits(year / 100, 2);
        out.digits(year % 100, 2);
        out.push(b'-');
        out.digits(t.month(), 2);
        out.push(b'-');
        out.digits(t.day(), 2);
        out.push(separator);
        out.digits(t.hour(), 2);
        out.push(b':');
        out.digits(t.minute(), 2);
        out.push(b':');
        out.digits(t.second() + leap, 2);
        Some(out)
    }

    /// Text as it is (chrono's, in the rare cases), cut to the buffer.
    fn text(s: &str) -> Self {
        let mut out = Rfc3339 {
            buf: [0; 40],
            len: 0,
        };
        let n = s.len().min(out.buf.len());
        out.buf[..n].copy_from_slice(&s.as_bytes()[..n]);
        out.len = n;
        out
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// `value` as exactly `width` decimal digits (it has at most that many).
    fn digits(&mut self, mut value: u32, width: usize) {
        for i in (0..width).rev() {
            // A digit is below 10: the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let d = (value % 10) as u8;
            self.buf[self.len + i] = b'0' + d;
            value /= 10;
        }
        self.len += width;
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are written, or a prefix of chrono's ASCII.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// A time that serializes as an RFC 3339 string, the fast way.
#[derive(Debug, Clone, Copy)]
pub struct Time(pub DateTime<Utc>);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Rfc3339::new(self.0).as_str())
    }
}

/// An optional time: the string, or `null`.
pub fn opt(t: Option<DateTime<Utc>>) -> Option<Time> {
    t.map(Time)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn chrono_way(t: DateTime<Utc>) -> String {
        serde_json::to_value(t)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn fractions_only_when_there_are_any() {
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 1).unwrap();
        assert_eq!(Rfc3339::new(t).as_str(), "2026-11-21T10:00:01Z");
        let ms = t + chrono::Duration::milliseconds(250);
        assert_eq!(Rfc3339::new(ms).as_str(), "2026-11-21T10:00:01.250Z");
        let us = t + chrono::Duration::microseconds(7);
        assert_eq!(Rfc3339::new(us).as_str(), "2026-11-21T10:00:01.000007Z");
        let ns = t + chrono::Duration::nanoseconds(5);
        assert_eq!(Rfc3339::new(ns).as_str(), "2026-11-21T10:00:01.000000005Z");
        let early = Utc.with_ymd_and_hms(7, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(Rfc3339::new(early).as_str(), "0007-01-02T03:04:05Z");
    }

    proptest! {
        #[test]
        fn the_table_time_is_chronos(secs in -70_000_000_000i64..260_000_000_000, nanos in 0u32..1_000_000_000) {
            let t = Utc.timestamp_opt(secs, nanos).unwrap();
            let ours = Rfc3339::table(t);
            prop_assert_eq!(ours.as_str(), t.format("%Y-%m-%d %H:%M:%SZ").to_string());
        }

        #[test]
        fn the_same_text_as_chrono(secs in -70_000_000_000i64..260_000_000_000, nanos in 0u32..1_000_000_000, unit in 0u32..4) {
            let nanos = match unit { 0 => 0, 1 => nanos / 1_000_000 * 1_000_000, 2 => nanos / 1000 * 1000, _ => nanos };
            let t = Utc.timestamp_opt(secs, nanos).unwrap();
            let ours = Rfc3339::new(t);
            prop_assert_eq!(ours.as_str(), chrono_way(t));
        }
    }
}
