//! A sequence of messages (topic, payload, retained), syncs and sweeps through a registry that
//! knows every preset plus two `-t` patterns. The input is text, one step a line:
//! `r TOPIC PAYLOAD` (retained), `l TOPIC PAYLOAD` (live), `s` (begin a sync), `w` (sweep);
//! in a payload `\xHH` is a byte; a message line's second character says how many seconds
//! passed (its byte value). After each step: the summary counts the rows, every
//! row is found by its name, `--only` partitions the rows, each row serializes to JSON with
//! RFC 3339 times, an empty payload on a payload topic leaves no row, and the changes `apply`
//! reports end in the state the table holds.

use chrono::{DateTime, TimeZone, Utc};
use mqtt_scan::status::presets::{Naming, Rule, PRESETS};
use mqtt_scan::status::{
    Change, Observation, Pattern, Registry, SortKey, Source, State, Vocabulary,
};

enum Step<'a> {
    Message {
        topic: &'a str,
        payload: Vec<u8>,
        retained: bool,
        after: u8,
    },
    BeginSync,
    Sweep,
}

fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'x') {
            if let Some(b) = s
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn steps(input: &[u8]) -> Vec<Step<'_>> {
    input
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let (&kind, rest) = line.split_first()?;
            match kind {
                b's' => Some(Step::BeginSync),
                b'w' => Some(Step::Sweep),
                b'r' | b'l' => {
                    let (&after, rest) = rest.split_first()?;
                    let sp = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                    let topic = std::str::from_utf8(&rest[..sp]).ok()?;
                    // A topic a broker could deliver.
                    if topic.is_empty() || topic.contains(['+', '#', '\0']) {
                        return None;
                    }
                    Some(Step::Message {
                        topic,
                        payload: unescape(rest.get(sp + 1..).unwrap_or_default()),
                        retained: kind == b'r',
                        after,
                    })
                }
                _ => None,
            }
        })
        .take(64)
        .collect()
}

fn registry() -> Registry {
    let mut sources = vec![Source::topic(
        Pattern::parse("sensors/connected/#").unwrap(),
    )];
    for preset in PRESETS {
        for t in preset.topics {
            sources.push(Source::preset(t, preset.name.into()).unwrap());
        }
    }
    sources.push(Source::topic(Pattern::parse("dev/{name}/status").unwrap()));
    Registry::new(
        sources,
        Vocabulary::new(&["alive".into()], &["gone".into(), "2".into()]),
    )
}

fn rfc3339(t: DateTime<Utc>) {
    let s = serde_json::to_value(t).unwrap();
    let s = s.as_str().unwrap();
    assert!(
        DateTime::parse_from_rfc3339(s).is_ok(),
        "{s} is not RFC 3339"
    );
}

fn check(r: &Registry) {
    let rows = r.rows(SortKey::Name, None);
    assert_eq!(rows.len(), r.len());
    let s = r.summary();
    assert_eq!(s.total, rows.len());
    let count = |st| rows.iter().filter(|row| row.state == st).count();
    assert_eq!(
        (s.online, s.offline, s.unknown),
        (
            count(State::Online),
            count(State::Offline),
            count(State::Unknown)
        )
    );
    let mut only = 0;
    for st in [State::Online, State::Offline, State::Unknown] {
        let part = r.rows(SortKey::State, Some(st));
        assert!(part.iter().all(|row| row.state == st));
        only += part.len();
    }
    assert_eq!(only, rows.len());
    assert_eq!(r.rows(SortKey::Since, None).len(), rows.len());
    let mut names = std::collections::HashSet::new();
    for row in &rows {
        assert!(names.insert(&row.name), "two rows named {:?}", row.name);
        let found = r.get(&row.name).expect("every row is found by its name");
        assert!(std::ptr::eq(found, *row));
        assert!(!row.name.is_empty());
        let json = serde_json::to_string(row).expect("a row serializes");
        let back: serde_json::Value = serde_json::from_str(&json).expect("as JSON");
        assert_eq!(back["state"], row.state.as_str());
        rfc3339(row.last_seen);
        if let Some(t) = row.since {
            rfc3339(t);
        }
    }
}

/// The last change `apply` reported for each name is the table's word for it.
fn check_changes(r: &Registry, changes: &[Change]) {
    let mut last = std::collections::HashMap::new();
    for c in changes {
        assert_ne!(c.from, c.to, "a change that changes nothing: {c:?}");
        last.insert(c.name.as_str(), c.to);
    }
    for (name, to) in last {
        assert_eq!(
            r.get(name).map(|row| row.state),
            to,
            "the last change for {name:?} says {to:?}"
        );
    }
}

/// The target's whole check, for the fuzzer and for `tests/fuzz_regressions.rs`.
pub fn check_input(input: &[u8]) {
    let mut r = registry();
    let mut now = Utc.timestamp_opt(1_795_000_000, 0).unwrap();
    let mut epoch = None;
    let mut out = Vec::new();
    for step in steps(input) {
        match step {
            Step::Message {
                topic,
                payload,
                retained,
                after,
            } => {
                now += chrono::Duration::seconds(i64::from(after));
                let obs = Observation {
                    topic,
                    payload: &payload,
                    retained,
                };
                out.clear();
                r.apply(&obs, now, &mut out);
                check_changes(&r, &out);
                // An empty payload on a payload topic: the row is gone.
                if payload.is_empty() {
                    let src = registry_rule(topic);
                    if let Some((name, Rule::Payload)) = src {
                        assert!(
                            r.get(&name).is_none(),
                            "{name:?} kept after an empty payload"
                        );
                    }
                }
            }
            Step::BeginSync => epoch = Some(r.begin_sync()),
            Step::Sweep => {
                if let Some(e) = epoch.take() {
                    let gone = r.sweep(e, now);
                    for c in &gone {
                        assert_eq!(c.to, None);
                        assert!(r.get(&c.name).is_none());
                    }
                    for row in r.rows(SortKey::Name, None) {
                        assert!(row.epoch == e || !row.retained_ever);
                    }
                }
            }
        }
        check(&r);
    }
}

/// The name and rule of the first source matching `topic` (what the registry uses), when
/// the topic alone names the client.
fn registry_rule(topic: &str) -> Option<(String, Rule)> {
    use std::sync::OnceLock;
    static SOURCES: OnceLock<Vec<(Pattern, Rule, Naming)>> = OnceLock::new();
    let sources = SOURCES.get_or_init(|| {
        let mut v = vec![(
            Pattern::parse("sensors/connected/#").unwrap(),
            Rule::Payload,
            Naming::Wildcards,
        )];
        for preset in PRESETS {
            for t in preset.topics {
                v.push((Pattern::parse(t.pattern).unwrap(), t.rule, t.name));
            }
        }
        v.push((
            Pattern::parse("dev/{name}/status").unwrap(),
            Rule::Payload,
            Naming::Wildcards,
        ));
        v
    });
    let (p, rule, naming) = sources.iter().find(|(p, _, _)| p.name(topic).is_some())?;
    let name = match naming {
        Naming::Wildcards => p.name(topic)?.into_owned(),
        Naming::Fixed(name) => (*name).to_owned(),
        Naming::Wildcard(i) => p.wildcard(topic, *i)?.to_owned(),
        Naming::Payload | Naming::Field(_) => return None,
    };
    Some((name, *rule))
}
