//! Properties of the fold through the public API: whatever the order of retained and live
//! messages and of clients, a row says what its client's last message said; an empty payload
//! removes the row; the summary counts the rows. The model is a map from name to the last
//! payload, parsed on its own.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use mqtt_scan::status::payload;
use mqtt_scan::status::{
    Observation, Pattern, Registry, SortKey, Source, State, Summary, Vocabulary,
};
use proptest::prelude::*;

const CLIENTS: &[&str] = &["s1", "s2", "s10", "dev/a", "plug"];

fn registry() -> Registry {
    // Two patterns that name the same client from different topics: one row per name.
    let sources = ["sensors/connected/#", "tele/{name}/LWT"]
        .iter()
        .map(|p| Source::topic(Pattern::parse(p).unwrap()))
        .collect();
    Registry::new(sources, vocab())
}

fn vocab() -> Vocabulary {
    Vocabulary::new(&["alive".into()], &["gone".into()])
}

fn t(s: usize) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + i64::try_from(s).unwrap(), 0)
        .unwrap()
}

/// One message: a client, a topic style for it, a payload, retained or live.
#[derive(Debug, Clone)]
struct Msg {
    client: usize,
    tele: bool,
    payload: Vec<u8>,
    retained: bool,
}

impl Msg {
    fn topic(&self) -> String {
        let name = CLIENTS[self.client];
        // `tele/{name}/LWT` cannot carry a name with a `/`.
        if self.tele && !name.contains('/') {
            format!("tele/{name}/LWT")
        } else {
            format!("sensors/connected/{name}")
        }
    }
}

fn payload_strategy(empty: bool) -> BoxedStrategy<Vec<u8>> {
    let words = prop::sample::select(vec![
        "1",
        "0",
        "2",
        "online",
        " Offline\n",
        "lost",
        "sleeping",
        "alert",
        "alive",
        "GONE",
        "maybe",
        "null",
        "\u{1b}[31m",
    ])
    .prop_map(|w| w.as_bytes().to_vec());
    let json = (
        prop::sample::select(vec!["status", "state", "connected", "online", "value", "x"]),
        prop::sample::select(vec!["1", "0", "true", "false", "\"up\"", "\"down\"", "{}"]),
        prop::option::of(0u64..2_000_000_000_000),
    )
        .prop_map(|(k, v, ts)| {
            let ts = ts.map_or(String::new(), |ts| format!(",\"ts\":{ts}"));
            format!("{{\"{k}\":{v}{ts}}}").into_bytes()
        });
    let bytes = prop::collection::vec(any::<u8>(), 1..12);
    if empty {
        prop_oneof![4 => words, 3 => json, 2 => bytes, 2 => Just(Vec::new())].boxed()
    } else {
        prop_oneof![4 => words, 3 => json, 2 => bytes].boxed()
    }
}

fn msg(retained: impl Strategy<Value = bool>, empty: bool) -> impl Strategy<Value = Msg> {
    (
        0..CLIENTS.len(),
        any::<bool>(),
        payload_strategy(empty),
        retained,
    )
        .prop_map(|(client, tele, payload, retained)| Msg {
            client,
            tele,
            payload,
            retained,
        })
}

/// Folds the messages in order; returns the registry and the model (name -> last message).
fn fold(msgs: &[Msg]) -> (Registry, HashMap<&'static str, Msg>) {
    let mut r = registry();
    let mut model = HashMap::new();
    let mut out = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let topic = m.topic();
        r.apply(
            &Observation {
                topic: &topic,
                payload: &m.payload,
                retained: m.retained,
            },
            t(i),
            &mut out,
        );
        model.insert(CLIENTS[m.client], m.clone());
    }
    (r, model)
}

/// Every row is what the model says its last message said, and there is no other row.
fn matches_model(r: &Registry, model: &HashMap<&'static str, Msg>) -> Result<(), TestCaseError> {
    let v = vocab();
    let mut live = 0;
    for (name, last) in model {
        let row = r.get(name);
        if last.payload.is_empty() {
            prop_assert!(
                row.is_none(),
                "{name}: an empty payload was last, yet {row:?}"
            );
            continue;
        }
        live += 1;
        let row = row.ok_or_else(|| TestCaseError::fail(format!("{name}: no row")))?;
        let want = payload::parse(&last.payload, &v);
        prop_assert_eq!(row.state, want.state, "{}: state", name);
        prop_assert_eq!(&row.payload, &want.payload, "{}: payload", name);
        prop_assert_eq!(row.retained, last.retained, "{}: retained", name);
        prop_assert_eq!(row.topic.to_string(), last.topic(), "{}: topic", name);
    }
    prop_assert_eq!(r.len(), live);
    Ok(())
}

fn counted(r: &Registry) -> Summary {
    let rows = r.rows(SortKey::Name, None);
    let n = |s| rows.iter().filter(|row| row.state == s).count();
    Summary {
        total: rows.len(),
        online: n(State::Online),
        offline: n(State::Offline),
        unknown: n(State::Unknown),
    }
}

proptest! {
    /// A retained snapshot, then live updates: every client ends in its last message's state,
    /// whatever the interleaving of clients.
    #[test]
    fn snapshot_then_live_ends_in_each_clients_last_state(
        snapshot in prop::collection::vec(msg(Just(true), false), 0..20),
        live in prop::collection::vec(msg(Just(false), false), 0..20),
    ) {
        let msgs: Vec<Msg> = snapshot.into_iter().chain(live).collect();
        let (r, model) = fold(&msgs);
        matches_model(&r, &model)?;
    }

    /// An empty payload removes the row, retained or not, whatever came before; and it
    /// touches no other row.
    #[test]
    fn an_empty_payload_always_removes_the_row(
        before in prop::collection::vec(msg(any::<bool>(), true), 0..30),
        client in 0..CLIENTS.len(),
        tele in any::<bool>(),
        retained in any::<bool>(),
    ) {
        let (mut r, _) = fold(&before);
        let others: Vec<_> = r
            .rows(SortKey::Name, None)
            .into_iter()
            .filter(|row| &*row.name != CLIENTS[client])
            .cloned()
            .collect();
        let clear = Msg { client, tele, payload: Vec::new(), retained };
        r.fold(
            &Observation { topic: &clear.topic(), payload: &[], retained },
            t(before.len()),
        );
        prop_assert!(r.get(CLIENTS[client]).is_none());
        prop_assert_eq!(r.len(), others.len());
        for row in &others {
            prop_assert_eq!(r.get(&row.name), Some(row));
        }
    }

    /// Any mix of retained, live and empty messages: a row's state is its last message's.
    #[test]
    fn a_rows_state_is_its_last_messages_state(
        msgs in prop::collection::vec(msg(any::<bool>(), true), 0..40),
    ) {
        let (r, model) = fold(&msgs);
        matches_model(&r, &model)?;
    }

    /// The summary counts the rows, after every message.
    #[test]
    fn the_summary_counts_the_rows(
        msgs in prop::collection::vec(msg(any::<bool>(), true), 0..40),
    ) {
        let mut r = registry();
        for (i, m) in msgs.iter().enumerate() {
            let topic = m.topic();
            r.fold(&Observation { topic: &topic, payload: &m.payload, retained: m.retained }, t(i));
            prop_assert_eq!(r.summary(), counted(&r));
            let parts: usize = [State::Online, State::Offline, State::Unknown]
                .into_iter()
                .map(|s| r.rows(SortKey::State, Some(s)).len())
                .sum();
            prop_assert_eq!(parts, r.len());
        }
    }
}
