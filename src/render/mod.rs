//! Renderers: rows in, bytes out. Pure: no clock (time is a parameter), no terminal checks.

pub mod columns;
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
pub(crate) mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::status::{Observation, Pattern, Registry, SortKey, Source, Vocabulary};

    /// The tests' clock: 2026-11-21 10:00:01Z plus `s` seconds.
    pub(crate) fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_255_201 + s, 0).unwrap()
    }

    /// A registry of `sensors/connected/#` with these statuses folded in, in order:
    /// (topic, payload, retained, at seconds).
    pub(crate) fn fleet(statuses: &[(&str, &str, bool, i64)]) -> Registry {
        let mut r = Registry::new(
            vec![Source::topic(
                Pattern::parse("sensors/connected/#").unwrap(),
            )],
            Vocabulary::default(),
        );
        for &(topic, payload, retained, at) in statuses {
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

    /// A small fleet with every kind of row.
    const FLEET: [(&str, &str, bool, i64); 4] = [
        ("sensors/connected/sensor10", "0", true, 0),
        (
            "sensors/connected/sensor2",
            r#"{"status":1,"ts":1795255201,"ip":"10.0.0.2","client":"s2"}"#,
            true,
            0,
        ),
        ("sensors/connected/sensor1", "online", false, 60),
        ("sensors/connected/weird", "a,\"b\"\x1b[31m", false, 90),
    ];

    fn render_with(
        r: &Registry,
        f: impl FnOnce(&Scan<'_>, &mut Vec<u8>) -> std::io::Result<()>,
    ) -> String {
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

    fn render(f: impl FnOnce(&Scan<'_>, &mut Vec<u8>) -> std::io::Result<()>) -> String {
        render_with(&fleet(&FLEET), f)
    }

    /// The table's options at the tests' `now`, every column of the default set.
    fn opts(color: bool, source: bool, width: Option<usize>) -> table::Options {
        table::Options {
            color,
            now: t(3600),
            source,
            columns: None,
            width,
        }
    }

    /// The text without its colour codes.
    fn uncoloured(text: String) -> String {
        ["\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m"]
            .iter()
            .fold(text, |s, code| s.replace(code, ""))
    }

    #[test]
    fn table() {
        let opts = opts(false, false, None);
        insta::assert_snapshot!(render(|s, w| table::write(s, &opts, w)));
    }

    /// Colour codes take no room on screen: with them stripped, the coloured table is the
    /// plain one, and each state word carries its colour.
    #[test]
    fn coloured_table_lines_up_like_the_plain_one() {
        let plain = render(|s, w| table::write(s, &opts(false, true, None), w));
        let coloured = render(|s, w| table::write(s, &opts(true, true, None), w));
        assert!(coloured.contains("\x1b[31moffline\x1b[0m"));
        assert!(coloured.contains("\x1b[32monline\x1b[0m"));
        assert!(coloured.contains("\x1b[33munknown\x1b[0m"));
        assert_eq!(uncoloured(coloured), plain);
        assert!(plain.lines().all(|l| !l.ends_with(' ')));
    }

    /// `list` on a terminal of 80, 60 and 40 columns: no line longer, every name whole
    /// (or shortened with `…`), every time whole; FOR as wide as its widest cell.
    #[test]
    fn the_table_fits_a_narrow_terminal() {
        let long = "a-rather-long-client-name-from-the-factory-floor-7";
        let long_topic = format!("sensors/connected/{long}");
        let mut statuses = FLEET.to_vec();
        statuses.extend([
            (
                "sensors/connected/sensor11",
                r#"{"status":1,"ts":1700000000}"#,
                true,
                0,
            ),
            (&*long_topic, "1", true, 0),
        ]);
        let r = fleet(&statuses);
        let full = render_with(&r, |s, w| table::write(s, &opts(false, false, None), w));
        assert!(
            full.lines().any(|l| l.len() > 140),
            "the pipe keeps every column"
        );
        for width in [80, 60, 40] {
            for color in [false, true] {
                let text = uncoloured(render_with(&r, |s, w| {
                    table::write(s, &opts(color, false, Some(width)), w)
                }));
                for line in text.lines() {
                    assert!(
                        unicode_width::UnicodeWidthStr::width(line) <= width,
                        "{width}: {line:?} in\n{text}"
                    );
                }
                let body: Vec<&str> = text.lines().skip(1).take(6).collect();
                for name in ["sensor1", "sensor2", "sensor10", "sensor11", "weird"] {
                    assert!(
                        body.iter()
                            .any(|l| l.split_whitespace().next() == Some(name)),
                        "{width}: {name} whole in\n{text}"
                    );
                }
                let long_row = body
                    .iter()
                    .find(|l| l.starts_with("a-rather"))
                    .unwrap_or_else(|| panic!("{width}: {text}"));
                let shown = long_row.split_whitespace().next().unwrap();
                assert!(
                    shown == long || (shown.contains('…') && shown.ends_with("-7")),
                    "{shown}"
                );
                // Times whole: FOR of sensor11 (two years), SINCE where shown.
                let header = text.lines().next().unwrap();
                let row11 = body.iter().find(|l| l.starts_with("sensor11 ")).unwrap();
                if header.contains("FOR") {
                    assert!(row11.contains("1102d 12h"), "{width}: {row11}");
                }
                if header.contains("SINCE") {
                    assert!(row11.contains("2023-11-14 22:13:20Z"), "{width}: {row11}");
                }
                assert!(
                    header.contains("NAME") && header.contains("STATE"),
                    "{header}"
                );
            }
        }
    }

    #[test]
    fn chosen_columns_in_their_order() {
        let opts = table::Options {
            columns: Some(vec![
                columns::Column::State,
                columns::Column::Name,
                columns::Column::Source,
            ]),
            ..opts(false, false, None)
        };
        let text = render(|s, w| table::write(s, &opts, w));
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("STATE     NAME       SOURCE"));
        assert_eq!(lines.next(), Some("online    sensor1    topic"));
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
