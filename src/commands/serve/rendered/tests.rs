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

fn obs<'a>(topic: &'a str, payload: &'a [u8], retained: bool) -> Observation<'a> {
    Observation {
        topic,
        payload,
        retained,
    }
}

/// Every `?only=`, and none.
const EVERY_FILTER: [Option<State>; 4] = [
    None,
    Some(State::Online),
    Some(State::Offline),
    Some(State::Unknown),
];

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
    let only = prop::sample::select(EVERY_FILTER.to_vec());
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
            r.fold(&obs(&format!("s/c{n}"), payload, true), t(0));
        }
        for (i, op) in ops.into_iter().enumerate() {
            let now = t(i64::try_from(i).unwrap() + 1);
            match op {
                Op::Fold(n, payload, retained) => {
                    r.fold(&obs(&format!("s/c{n}"), payload.as_bytes(), retained), now);
                }
                Op::Clear(n) => {
                    r.fold(&obs(&format!("s/c{n}"), b"", true), now);
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
        r.fold(&obs(&format!("s/c{n:04}"), b"1", true), t(0));
    }
    let mut rendered = Rendered::default();
    let first = rendered.get(&r, SortKey::Name, None);
    r.fold(&obs("s/c0500", b"0", false), t(1));
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

/// Cascades (Sparkplug node deaths, Homie lost roots), re-syncs and a second table.
mod presets_and_tables {
    use super::*;
    use crate::status::registry::testing::{cert, preset_sources};

    /// `s/#` and the presets whose deaths take other rows along.
    fn mixed() -> Registry {
        let mut sources = vec![Source::topic(Pattern::parse("s/#").unwrap())];
        sources.extend(preset_sources(&["sparkplug", "homie"]));
        Registry::new(sources, Vocabulary::default())
    }

    fn check(rendered: &mut Rendered, r: &Registry, sort: SortKey, only: Option<State>) {
        let (served, whole) = both(rendered, r, sort, only);
        assert_eq!(served, whole, "sort {sort:?} only {only:?}");
    }

    fn all_views(rendered: &mut Rendered, r: &Registry) {
        for only in EVERY_FILTER {
            check(rendered, r, SortKey::Name, only);
        }
    }

    #[derive(Debug, Clone)]
    enum Op2 {
        Fold(u16, &'static str, bool),
        NBirth(u8, u64),
        NDeath(u8, u64),
        DBirth(u8, u16),
        HomieState(u16, &'static str),
        HomieDesc(u16, u16),
        Sync(Vec<u16>),
        Since(u16, i64),
        Get(Option<State>),
    }

    fn op2() -> impl Strategy<Value = Op2> {
        let only = prop::sample::select(EVERY_FILTER.to_vec());
        let payload = prop::sample::select(vec!["1", "0", "garbage", ""]);
        let hs = prop::sample::select(vec!["ready", "lost", "sleeping", "disconnected"]);
        prop_oneof![
            4 => (0u16..300, payload, any::<bool>()).prop_map(|(c, p, r)| Op2::Fold(c, p, r)),
            1 => (0u8..3, 0u64..3).prop_map(|(n, b)| Op2::NBirth(n, b)),
            1 => (0u8..3, 0u64..3).prop_map(|(n, b)| Op2::NDeath(n, b)),
            2 => (0u8..3, 0u16..200).prop_map(|(n, d)| Op2::DBirth(n, d)),
            1 => (0u16..300, hs).prop_map(|(n, s)| Op2::HomieState(n, s)),
            1 => (0u16..300, 0u16..3).prop_map(|(n, r)| Op2::HomieDesc(n, r)),
            1 => prop::collection::vec(0u16..300, 0..300).prop_map(Op2::Sync),
            1 => (0u16..300, 0i64..1000).prop_map(|(c, s)| Op2::Since(c, s)),
            3 => only.prop_map(Op2::Get),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn cascades_syncs_and_a_registry_switch(ops in prop::collection::vec(op2(), 1..150)) {
            let mut rendered = Rendered::default();
            // Requests before the watcher's table exists are answered from an empty one.
            let empty = mixed();
            all_views(&mut rendered, &empty);
            let mut r = mixed();
            r.hide("me");
            for n in 0..300u16 {
                r.fold(&obs(&format!("s/c{n}"), b"1", true), t(0));
            }
            // Cascades that reach past the stretch of the row that caused them: each node
            // with 150 devices, three Homie roots with 100 children each, 300 names wide.
            for e in 0..3 {
                r.fold(&obs(&format!("spBv1.0/g/NBIRTH/e{e}"), &cert(0), false), t(0));
                for d in 0..150 {
                    r.fold(&obs(&format!("spBv1.0/g/DBIRTH/e{e}/d{d}"), &cert(0), false), t(0));
                }
            }
            for h in 0..300 {
                let desc = format!(r#"{{"homie":"5.0","root":"h{}"}}"#, h % 3);
                r.fold(&obs(&format!("homie/5/h{h}/$description"), desc.as_bytes(), true), t(0));
                r.fold(&obs(&format!("homie/5/h{h}/$state"), b"ready", true), t(0));
            }
            let mut epoch = r.begin_sync();
            for (i, op) in ops.into_iter().enumerate() {
                let now = t(i64::try_from(i).unwrap() + 1);
                match op {
                    Op2::Fold(n, p, ret) => { r.fold(&obs(&format!("s/c{n}"), p.as_bytes(), ret), now); }
                    Op2::NBirth(n, b) => { r.fold(&obs(&format!("spBv1.0/g/NBIRTH/e{n}"), &cert(b), false), now); }
                    Op2::NDeath(n, b) => { r.fold(&obs(&format!("spBv1.0/g/NDEATH/e{n}"), &cert(b), false), now); }
                    Op2::DBirth(n, d) => { r.fold(&obs(&format!("spBv1.0/g/DBIRTH/e{n}/d{d}"), &cert(0), false), now); }
                    Op2::HomieState(n, s) => { r.fold(&obs(&format!("homie/5/h{n}/$state"), s.as_bytes(), true), now); }
                    Op2::HomieDesc(n, root) => {
                        let desc = format!(r#"{{"homie":"5.0","root":"h{root}"}}"#);
                        r.fold(&obs(&format!("homie/5/h{n}/$description"), desc.as_bytes(), true), now);
                    }
                    Op2::Sync(seen) => {
                        for n in seen {
                            r.fold(&obs(&format!("s/c{n}"), b"1", true), now);
                        }
                        r.sweep(epoch, now);
                        epoch = r.begin_sync();
                    }
                    Op2::Since(n, s) => { r.set_since(&format!("c{n}"), Some(t(s))); }
                    Op2::Get(only) => {
                        let (served, whole) = both(&mut rendered, &r, SortKey::Name, only);
                        prop_assert_eq!(served, whole);
                    }
                }
            }
            all_views(&mut rendered, &r);
        }
    }

    /// Two tables at the same version and layout, different rows (serve starts on an empty
    /// table, then the watcher's): the second is never served the first one's rows.
    #[test]
    fn another_table_at_the_same_version_and_layout_is_rendered_afresh() {
        let mut a = registry();
        let mut b = registry();
        a.fold(&obs("s/x", b"1", true), t(0));
        b.fold(&obs("s/y", b"0", true), t(0));
        assert_eq!((a.version(), a.layout()), (b.version(), b.layout()));
        let mut rendered = Rendered::default();
        check(&mut rendered, &a, SortKey::Name, None);
        let (served, whole) = both(&mut rendered, &b, SortKey::Name, None);
        assert_eq!(served, whole);
    }
}
