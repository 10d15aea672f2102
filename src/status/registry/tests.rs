//! The fold, case by case.

use super::testing::{cert, preset_sources};
use super::*;
use crate::status::{sparkplug, Pattern};
use chrono::TimeZone;

fn registry(patterns: &[&str]) -> Registry {
    let sources = patterns
        .iter()
        .map(|p| Source::topic(Pattern::parse(p).unwrap()))
        .collect();
    Registry::new(sources, Vocabulary::default())
}

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + s, 0).unwrap()
}

fn obs<'a>(topic: &'a str, payload: &'a str, retained: bool) -> Observation<'a> {
    Observation {
        topic,
        payload: payload.as_bytes(),
        retained,
    }
}

#[test]
fn online_to_offline_counts_a_change_and_moves_since() {
    let mut r = registry(&["sensors/connected/#"]);
    let out = r.fold(&obs("sensors/connected/s1", "1", false), t(0));
    assert_eq!(
        out,
        Outcome::Changed {
            from: None,
            to: Some(State::Online)
        }
    );
    assert_eq!(r.get("s1").unwrap().since, Some(t(0)));
    let out = r.fold(&obs("sensors/connected/s1", "0", false), t(5));
    assert_eq!(
        out,
        Outcome::Changed {
            from: Some(State::Online),
            to: Some(State::Offline)
        }
    );
    let row = r.get("s1").unwrap();
    assert_eq!(
        (row.state, row.since, row.changes, row.last_seen),
        (State::Offline, Some(t(5)), 1, t(5))
    );
}

#[test]
fn same_state_refreshes_last_seen_but_keeps_since() {
    let mut r = registry(&["sensors/connected/#"]);
    r.fold(&obs("sensors/connected/s1", "1", false), t(0));
    let out = r.fold(&obs("sensors/connected/s1", "online", false), t(9));
    assert_eq!(out, Outcome::Unchanged);
    let row = r.get("s1").unwrap();
    assert_eq!(
        (row.since, row.last_seen, row.changes),
        (Some(t(0)), t(9), 0)
    );
    assert_eq!(row.detail_text().as_deref(), Some("online"));
}

#[test]
fn empty_payload_removes_the_row() {
    let mut r = registry(&["sensors/connected/#"]);
    r.fold(&obs("sensors/connected/s1", "1", true), t(0));
    let out = r.fold(&obs("sensors/connected/s1", "", false), t(1));
    assert_eq!(
        out,
        Outcome::Changed {
            from: Some(State::Online),
            to: None
        }
    );
    assert!(r.get("s1").is_none());
    assert_eq!(
        r.fold(&obs("sensors/connected/s1", "", false), t(2)),
        Outcome::Unchanged
    );
}

#[test]
fn retained_then_live() {
    let mut r = registry(&["sensors/connected/#"]);
    r.fold(&obs("sensors/connected/s1", "1", true), t(0));
    let row = r.get("s1").unwrap();
    assert!(row.retained);
    assert_eq!(
        row.since, None,
        "a retained message without a timestamp has no since"
    );
    r.fold(&obs("sensors/connected/s1", "0", false), t(3));
    let row = r.get("s1").unwrap();
    assert!(!row.retained);
    assert_eq!(
        (row.state, row.since, row.changes),
        (State::Offline, Some(t(3)), 1)
    );
}

#[test]
fn payload_timestamp_wins_over_arrival_time() {
    let mut r = registry(&["sensors/connected/#"]);
    r.fold(
        &obs(
            "sensors/connected/s1",
            r#"{"status":1,"ts":1795000000}"#,
            true,
        ),
        t(50),
    );
    assert_eq!(r.get("s1").unwrap().since, Some(t(0)));
}

#[test]
fn unmatched_topics_are_ignored_and_first_pattern_names() {
    let mut r = registry(&["a/+/status", "a/#"]);
    assert_eq!(r.fold(&obs("b/x", "1", false), t(0)), Outcome::NoMatch);
    r.fold(&obs("a/dev/status", "1", false), t(0));
    assert!(r.get("dev").is_some());
    r.fold(&obs("a/other", "1", false), t(0));
    assert!(r.get("other").is_some());
}

#[test]
fn removal_keeps_every_other_row_findable() {
    let mut r = registry(&["s/#"]);
    for i in 0..1000 {
        r.fold(&obs(&format!("s/n{i}"), "1", true), t(0));
    }
    // Remove from the front, the middle and the end: the last row moves each time.
    for i in (0..1000).step_by(3) {
        let out = r.fold(&obs(&format!("s/n{i}"), "", false), t(1));
        assert_eq!(
            out,
            Outcome::Changed {
                from: Some(State::Online),
                to: None
            }
        );
    }
    for i in 0..1000 {
        assert_eq!(r.get(&format!("n{i}")).is_some(), i % 3 != 0, "n{i}");
    }
    assert_eq!(r.len(), 666);
    r.fold(&obs("s/n0", "0", false), t(2));
    assert_eq!(r.get("n0").unwrap().state, State::Offline);
}

fn applied(r: &mut Registry, o: &Observation<'_>, at: DateTime<Utc>) -> Vec<Change> {
    let mut out = Vec::new();
    r.apply(o, at, &mut out);
    out
}

#[test]
fn apply_describes_each_change() {
    let mut r = registry(&["sensors/connected/#"]);
    let c = applied(&mut r, &obs("sensors/connected/s1", "1", true), t(0)).remove(0);
    assert_eq!(
        (c.name.as_str(), c.from, c.to, c.retained),
        ("s1", None, Some(State::Online), true)
    );
    assert!(
        applied(&mut r, &obs("sensors/connected/s1", "online", false), t(1)).is_empty(),
        "same state"
    );
    let c = applied(&mut r, &obs("sensors/connected/s1", "0", false), t(2)).remove(0);
    assert_eq!(
        (c.from, c.to, c.time),
        (Some(State::Online), Some(State::Offline), t(2))
    );
    assert_eq!(c.payload, Payload::Text("0".into()));
    let c = applied(&mut r, &obs("sensors/connected/s1", "", false), t(3)).remove(0);
    assert_eq!((c.from, c.to_word()), (Some(State::Offline), "removed"));
    assert!(applied(&mut r, &obs("other/x", "1", false), t(4)).is_empty());
}

fn preset_registry(names: &[&str]) -> Registry {
    Registry::new(preset_sources(names), Vocabulary::default())
}

fn raw<'a>(topic: &'a str, payload: &'a [u8]) -> Observation<'a> {
    Observation {
        topic,
        payload,
        retained: false,
    }
}

#[test]
fn sparkplug_births_deaths_stale_deaths_and_devices() {
    let mut r = preset_registry(&["sparkplug"]);
    let (b1, b2) = (cert(1), cert(2));
    r.fold(&raw("spBv1.0/plant/NBIRTH/edge", &b1), t(0));
    r.fold(&raw("spBv1.0/plant/DBIRTH/edge/pump", &b1), t(0));
    assert_eq!(r.get("plant/edge").unwrap().state, State::Online);
    assert_eq!(r.get("plant/edge").unwrap().source.as_ref(), "sparkplug");
    assert_eq!(
        r.get("plant/edge/pump").unwrap().detail_text().as_deref(),
        Some("DBIRTH")
    );
    // The node is reborn (bdSeq 2); the old session's death (bdSeq 1) arrives late.
    r.fold(&raw("spBv1.0/plant/NBIRTH/edge", &b2), t(1));
    assert!(
        applied(&mut r, &raw("spBv1.0/plant/NDEATH/edge", &b1), t(2)).is_empty(),
        "stale"
    );
    assert_eq!(r.get("plant/edge").unwrap().state, State::Online);
    // The real death takes the node and its devices offline.
    let changes = applied(&mut r, &raw("spBv1.0/plant/NDEATH/edge", &b2), t(3));
    let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["plant/edge", "plant/edge/pump"]);
    assert!(changes.iter().all(|c| c.to == Some(State::Offline)));
    assert_eq!(
        r.get("plant/edge/pump").unwrap().detail_text().as_deref(),
        Some("NDEATH")
    );
    // A device death alone.
    r.fold(&raw("spBv1.0/plant/DBIRTH/edge/valve", &b2), t(4));
    r.fold(&raw("spBv1.0/plant/DDEATH/edge/valve", &b2), t(5));
    assert_eq!(r.get("plant/edge/valve").unwrap().state, State::Offline);
    // Host applications' STATE, JSON (3.0) and plain (2.2).
    r.fold(
        &raw(
            "spBv1.0/STATE/scada",
            br#"{"online":true,"timestamp":1795000000000}"#,
        ),
        t(6),
    );
    r.fold(&raw("STATE/old-scada", b"OFFLINE"), t(6));
    assert_eq!(r.get("scada").unwrap().state, State::Online);
    assert_eq!(r.get("old-scada").unwrap().state, State::Offline);
}

#[test]
fn homie_5_children_of_a_lost_root_are_lost() {
    let mut r = preset_registry(&["homie"]);
    r.fold(&raw("homie/5/hub/$state", b"ready"), t(0));
    r.fold(
        &raw(
            "homie/5/sensor/$description",
            br#"{"homie":"5.0","root":"hub","parent":"hub"}"#,
        ),
        t(0),
    );
    r.fold(&raw("homie/5/sensor/$state", b"ready"), t(0));
    r.fold(&raw("homie/old/$state", b"sleeping"), t(0));
    let changes = applied(&mut r, &raw("homie/5/hub/$state", b"lost"), t(1));
    let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["hub", "sensor"]);
    assert_eq!(
        r.get("sensor").unwrap().detail_text().as_deref(),
        Some("lost")
    );
    // Its own "ready" while the root is lost does not bring it back.
    r.fold(&raw("homie/5/sensor/$state", b"ready"), t(2));
    assert_eq!(r.get("sensor").unwrap().state, State::Offline);
    assert_eq!(
        r.get("old").unwrap().detail_text().as_deref(),
        Some("sleeping")
    );
}

#[test]
fn zigbee2mqtt_names_the_bridge_and_keeps_slashes_in_friendly_names() {
    let mut r = preset_registry(&["zigbee2mqtt"]);
    r.fold(
        &raw("zigbee2mqtt/bridge/state", br#"{"state":"online"}"#),
        t(0),
    );
    r.fold(
        &raw("zigbee2mqtt/living/lamp/availability", b"offline"),
        t(0),
    );
    r.fold(
        &raw("zigbee2mqtt/plug/availability", br#"{"state":"online"}"#),
        t(0),
    );
    assert_eq!(r.get("bridge").unwrap().state, State::Online);
    assert_eq!(r.get("living/lamp").unwrap().state, State::Offline);
    assert_eq!(r.get("plug").unwrap().state, State::Online);
    assert_eq!(
        r.fold(&raw("zigbee2mqtt/plug", b"{}"), t(0)),
        Outcome::NoMatch,
        "device data is not status"
    );
}

#[test]
fn a_sparkplug_time_past_year_9999_is_no_time() {
    let mut r = preset_registry(&["sparkplug"]);
    let birth = |ms| {
        sparkplug::encode(&sparkplug::Certificate {
            timestamp: Some(ms),
            seq: None,
            bd_seq: None,
        })
    };
    r.fold(
        &raw("spBv1.0/g/NBIRTH/e", &birth(253_402_300_800_000)),
        t(0),
    );
    assert_eq!(r.get("g/e").unwrap().since, Some(t(0)));
    r.fold(&raw("spBv1.0/g/NBIRTH/f", &birth(1_000_000_000_000)), t(0));
    assert_eq!(
        r.get("g/f").unwrap().since,
        Utc.timestamp_millis_opt(1_000_000_000_000).single()
    );
}

#[test]
fn a_fixed_name_is_the_name_changes_and_lookups_use() {
    // Found by the `fold` fuzz target: `apply` reported the bridge's changes under its
    // topic, and `name_of` (watch's sync, prune's check) missed its row.
    let mut r = preset_registry(&["zigbee2mqtt"]);
    let topic = "zigbee2mqtt/bridge/state";
    assert_eq!(r.name_of(topic).as_deref(), Some("bridge"));
    let c = applied(&mut r, &raw(topic, br#"{"state":"online"}"#), t(0)).remove(0);
    assert_eq!((c.name.as_str(), c.to), ("bridge", Some(State::Online)));
    let c = applied(&mut r, &raw(topic, b"offline"), t(1)).remove(0);
    assert_eq!((c.name.as_str(), c.to), ("bridge", Some(State::Offline)));
    assert_eq!(c.payload, Payload::Text("offline".into()));
    assert_eq!(r.epoch_of(topic), Some(0));
}

#[test]
fn a_sync_sweeps_the_rows_it_did_not_see() {
    let mut r = registry(&["s/#"]);
    for n in ["a", "b", "c", "d"] {
        r.fold(&obs(&format!("s/{n}"), "1", true), t(0));
    }
    r.fold(&obs("s/live-only", "1", false), t(0));
    let epoch = r.begin_sync();
    r.fold(&obs("s/b", "1", true), t(1));
    r.fold(&obs("s/d", "0", true), t(1));
    let gone = r.sweep(epoch, t(2));
    let names: Vec<&str> = gone.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
    assert!(gone
        .iter()
        .all(|c| c.to.is_none() && c.from == Some(State::Online)));
    // No message is behind a sweep's removal, as none is behind a live clear's.
    assert!(gone.iter().all(|c| !c.retained));
    assert_eq!(r.len(), 3);
    assert!(r.get("b").is_some() && r.get("d").is_some());
    assert!(
        r.get("live-only").is_some(),
        "never retained: not the store's to judge"
    );
}

#[test]
fn sort_and_filter() {
    let mut r = registry(&["s/#"]);
    for (name, p, time) in [
        ("n10", "1", 3),
        ("n2", "0", 1),
        ("n1", "x", 2),
        ("n3", "1", 0),
    ] {
        r.fold(&obs(&format!("s/{name}"), p, false), t(time));
    }
    r.fold(&obs("s/old", "1", true), t(4));
    let names = |v: Vec<&Row>| v.iter().map(|r| r.name.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(r.rows(SortKey::Name, None)),
        ["n1", "n2", "n3", "n10", "old"]
    );
    assert_eq!(
        names(r.rows(SortKey::State, None)),
        ["n2", "n1", "n3", "n10", "old"]
    );
    assert_eq!(
        names(r.rows(SortKey::Since, None)),
        ["n3", "n2", "n1", "n10", "old"]
    );
    assert_eq!(
        names(r.rows(SortKey::Name, Some(State::Online))),
        ["n3", "n10", "old"]
    );
    assert_eq!(
        r.summary(),
        Summary {
            total: 5,
            online: 3,
            offline: 1,
            unknown: 1
        }
    );
}

#[test]
fn the_name_order_by_places_is_the_name_sort_while_the_layout_stays() {
    let mut r = registry(&["s/#"]);
    for name in ["n10", "n2", "n1", "x", "n3"] {
        r.fold(&obs(&format!("s/{name}"), "1", true), t(0));
    }
    let layout = r.layout();
    let order = r.name_order();
    // A change of state keeps the layout, and the order still holds.
    r.fold(&obs("s/n2", "0", false), t(1));
    assert_eq!(r.layout(), layout);
    let by_places: Vec<&str> = order.iter().map(|&p| &*r.at(p).unwrap().name).collect();
    let sorted: Vec<&str> = r
        .rows(SortKey::Name, None)
        .iter()
        .map(|r| &*r.name)
        .collect();
    assert_eq!(by_places, sorted);
    // A row that goes (or comes) moves the layout.
    r.fold(&obs("s/n1", "", true), t(2));
    assert_ne!(r.layout(), layout);
}
