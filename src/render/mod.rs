//! Renderers: rows in, bytes out. Pure: no clock (time is a parameter), no terminal checks.

pub mod csv;
pub mod events;
pub mod json;
pub mod table;

use chrono::{DateTime, Utc};
use serde::Serialize;

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
    crate::status::rfc3339::Rfc3339::new(t).as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::status::{Observation, Pattern, Registry, SortKey, Source, Vocabulary};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_255_201 + s, 0).unwrap()
    }

    /// A small fleet with every kind of row.
    fn registry() -> Registry {
        let mut r = Registry::new(
            vec![Source::topic(
                Pattern::parse("sensors/connected/#").unwrap(),
            )],
            Vocabulary::default(),
        );
        for (topic, payload, retained, at) in [
            ("sensors/connected/sensor10", "0", true, 0),
            (
                "sensors/connected/sensor2",
                r#"{"status":1,"ts":1795255201,"ip":"10.0.0.2","client":"s2"}"#,
                true,
                0,
            ),
            ("sensors/connected/sensor1", "online", false, 60),
            ("sensors/connected/weird", "a,\"b\"\x1b[31m", false, 90),
        ] {
            r.fold(
                &Observation {
                    topic,
                    payload: payload.as_bytes(),
                    retained,
                },
                t(at),
            );
        }
        r
    }

    fn render(f: impl FnOnce(&Scan<'_>, &mut Vec<u8>) -> std::io::Result<()>) -> String {
        let r = registry();
        let topics = vec!["sensors/connected/#".to_owned()];
        let scan = Scan {
            broker: "mqtt://localhost:1883",
            topics: &topics,
            scanned_at: t(3600),
            complete: true,
            summary: r.summary(),
            clients: r.rows(SortKey::Name, None),
        };
        let mut out = Vec::new();
        f(&scan, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table() {
        let opts = table::Options {
            color: false,
            now: t(3600),
            source: false,
        };
        insta::assert_snapshot!(render(|s, w| table::write(s, &opts, w)));
    }

    /// Colour codes take no room on screen: with them stripped, the coloured table is the
    /// plain one, and each state word carries its colour.
    #[test]
    fn coloured_table_lines_up_like_the_plain_one() {
        let opts = |color| table::Options {
            color,
            now: t(3600),
            source: true,
        };
        let plain = render(|s, w| table::write(s, &opts(false), w));
        let coloured = render(|s, w| table::write(s, &opts(true), w));
        assert!(coloured.contains("\x1b[31moffline\x1b[0m"));
        assert!(coloured.contains("\x1b[32monline\x1b[0m"));
        assert!(coloured.contains("\x1b[33munknown\x1b[0m"));
        let stripped = ["\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m"]
            .iter()
            .fold(coloured, |s, code| s.replace(code, ""));
        assert_eq!(stripped, plain);
        assert!(plain.lines().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn csv() {
        insta::assert_snapshot!(render(|s, w| csv::write(s, w)));
    }

    #[test]
    fn json() {
        insta::assert_snapshot!(render(|s, w| json::document(s, w)));
    }

    #[test]
    fn jsonl() {
        insta::assert_snapshot!(render(|s, w| json::lines(s, w)));
    }

    #[test]
    fn ages_are_coarse() {
        assert_eq!(table::age(t(0), t(45)), "45s");
        assert_eq!(table::age(t(0), t(720)), "12m");
        assert_eq!(table::age(t(0), t(3 * 3600 + 720)), "3h 12m");
        assert_eq!(table::age(t(0), t(2 * 86_400 + 4 * 3600)), "2d 4h");
        assert_eq!(table::age(t(10), t(0)), "-");
    }
}
