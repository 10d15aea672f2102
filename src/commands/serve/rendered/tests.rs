//! What is kept renders what the table holds, however the table moved in between.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::status::{Observation, Pattern, Source, Vocabulary};

fn registry() -> Registry {
    Registry::new(
        vec![Source::topic(Pattern::parse("s/#").unwrap())],
        Vocabulary::default(),
    )
}

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + s, 0).unwrap()
}

/// What `json::rows` writes of the table, and what is served.
fn both(
    rendered: &mut Rendered,
    r: &Registry,
    sort: SortKey,
    only: Option<State>,
) -> (String, String) {
    let mut whole = Vec::new();
    json::rows(&r.rows(sort, only), &mut whole).unwrap();
    let kept = rendered.get(r, sort, only);
    let served: Vec<u8> = kept.pieces.iter().flat_map(|p| p.iter().copied()).collect();
    assert_eq!(kept.len, served.len());
    (
        String::from_utf8(served).unwrap(),
        String::from_utf8(whole).unwrap(),
    )
}

#[derive(Debug, Clone)]
enum Op {
    /// A status for client n: payload, retained.
    Fold(u16, &'static str, bool),
    /// The retained status cleared: the row goes.
    Clear(u16),
    Since(u16, i64),
    /// A request: sort, filter.
    Get(SortKey, Option<State>),
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0u16..400;
    let payload = prop::sample::select(vec!["1", "0", "online", "garbage", "{\"state\":\"ok\"}"]);
    let sort = prop::sample::select(vec![SortKey::Name, SortKey::State, SortKey::Since]);
    let only = prop::sample::select(vec![
        None,
        Some(State::Online),
        Some(State::Offline),
        Some(State::Unknown),
    ]);
    prop_oneof![
        6 => (client.clone(), payload, any::<bool>()).prop_map(|(c, p, r)| Op::Fold(c, p, r)),
        1 => client.clone().prop_map(Op::Clear),
        1 => (client, 0i64..1000).prop_map(|(c, s)| Op::Since(c, s)),
        3 => (sort, only).prop_map(|(s, o)| Op::Get(s, o)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_request_gets_the_rows_the_table_holds(
        seed in prop::collection::vec(any::<bool>(), 0..400),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let mut r = registry();
        let mut rendered = Rendered::default();
        // Several stretches from the start, some clients offline.
        for (n, offline) in seed.iter().enumerate() {
            let payload = if *offline { b"0" as &[u8] } else { b"1" };
            r.fold(&Observation { topic: &format!("s/c{n}"), payload, retained: true }, t(0));
        }
        for (i, op) in ops.into_iter().enumerate() {
            let now = t(i64::try_from(i).unwrap() + 1);
            match op {
                Op::Fold(n, payload, retained) => {
                    r.fold(&Observation { topic: &format!("s/c{n}"), payload: payload.as_bytes(), retained }, now);
                }
                Op::Clear(n) => {
                    r.fold(&Observation { topic: &format!("s/c{n}"), payload: b"", retained: true }, now);
                }
                Op::Since(n, s) => {
                    r.set_since(&format!("c{n}"), Some(t(s)));
                }
                Op::Get(sort, only) => {
                    let (served, whole) = both(&mut rendered, &r, sort, only);
                    prop_assert_eq!(served, whole);
                }
            }
        }
        let (served, whole) = both(&mut rendered, &r, SortKey::Name, None);
        prop_assert_eq!(served, whole);
    }
}

#[test]
fn a_change_renders_again_only_the_stretch_of_its_row() {
    let mut r = registry();
    for n in 0..1000 {
        r.fold(
            &Observation {
                topic: &format!("s/c{n:04}"),
                payload: b"1",
                retained: true,
            },
            t(0),
        );
    }
    let mut rendered = Rendered::default();
    let first = rendered.get(&r, SortKey::Name, None);
    r.fold(
        &Observation {
            topic: "s/c0500",
            payload: b"0",
            retained: false,
        },
        t(1),
    );
    let second = rendered.get(&r, SortKey::Name, None);
    let same = first
        .pieces
        .iter()
        .zip(&second.pieces)
        .filter(|(a, b)| a.as_ptr() == b.as_ptr())
        .count();
    // 1000 rows: 8 stretches and the end; one stretch (and the end) rendered anew.
    assert_eq!(second.pieces.len(), 9);
    assert_eq!(same, 7);
    let (served, whole) = both(&mut rendered, &r, SortKey::Name, None);
    assert_eq!(served, whole);
    assert!(served.contains("\"c0500\""));
}
