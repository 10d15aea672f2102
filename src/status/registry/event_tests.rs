//! The fold of brokers' client events: EMQX, RMQTT, NanoMQ, aedes and AWS IoT, with the
//! payloads their documentation shows.

use super::testing::preset_sources;
use super::*;
use chrono::TimeZone;
use serde_json::json;

/// 2026-11-18T…: the times these tests fold at.
const BASE: i64 = 1_795_000_000;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(BASE + s, 0).unwrap()
}

/// Milliseconds since the epoch `s` seconds after BASE, as brokers write them.
fn ms(s: i64) -> i64 {
    (BASE + s) * 1000
}

fn registry(names: &[&str]) -> Registry {
    Registry::new(preset_sources(names), Vocabulary::default())
}

fn live<'a>(topic: &'a str, payload: &'a str) -> Observation<'a> {
    Observation {
        topic,
        payload: payload.as_bytes(),
        retained: false,
    }
}

fn apply(r: &mut Registry, topic: &str, payload: &str, at: DateTime<Utc>) -> Vec<Change> {
    let mut out = Vec::new();
    r.apply(&live(topic, payload), at, &mut out);
    out
}

fn detail(row: &Row) -> String {
    row.detail_text().unwrap().into_owned()
}

/// EMQX's documented `connected` and `disconnected` payloads (docs.emqx.com, "System
/// Topic"), with times near the fold's.
fn emqx_connected(at: i64) -> String {
    json!({"username":"foo","ts":ms(at),"sockport":1883,"proto_ver":4,"proto_name":"MQTT",
        "keepalive":60,"ipaddress":"127.0.0.1","expiry_interval":0,"connected_at":ms(at),
        "connack":0,"clientid":"emqtt-8348fe27a87976ad4db3","clean_start":true})
    .to_string()
}

fn emqx_disconnected(at: i64) -> String {
    json!({"username":"foo","ts":ms(at),"sockport":1883,"reason":"tcp_closed","proto_ver":4,
        "proto_name":"MQTT","ipaddress":"127.0.0.1","disconnected_at":ms(at),
        "clientid":"emqtt-8348fe27a87976ad4db3"})
    .to_string()
}

const EMQX_UP: &str = "$SYS/brokers/emqx@127.0.0.1/clients/emqtt-8348fe27a87976ad4db3/connected";
const EMQX_DOWN: &str =
    "$SYS/brokers/emqx@127.0.0.1/clients/emqtt-8348fe27a87976ad4db3/disconnected";

#[test]
fn emqx_connected_then_disconnected_with_time_address_and_reason() {
    let mut r = registry(&["emqx"]);
    let up = apply(&mut r, EMQX_UP, &emqx_connected(-30), t(0));
    assert_eq!(up.len(), 1);
    assert_eq!(
        (up[0].name.as_str(), up[0].to),
        ("emqtt-8348fe27a87976ad4db3", Some(State::Online))
    );
    let row = r.get("emqtt-8348fe27a87976ad4db3").unwrap();
    assert_eq!(
        row.since,
        Some(t(-30)),
        "since is the broker's connected_at"
    );
    assert_eq!(row.ip(), Some("127.0.0.1"));
    assert_eq!(detail(row), "connected");
    assert_eq!(&*row.source, "emqx");

    let down = apply(&mut r, EMQX_DOWN, &emqx_disconnected(-5), t(1));
    assert_eq!(down[0].to, Some(State::Offline));
    let row = r.get("emqtt-8348fe27a87976ad4db3").unwrap();
    assert_eq!(
        (row.since, detail(row), row.changes),
        (Some(t(-5)), "tcp_closed".to_owned(), 1)
    );
    assert_eq!(r.len(), 1, "the node level is not part of the name");
}

#[test]
fn rmqtt_addresses_lose_their_port() {
    // RMQTT's documented payload (docs/en_US/sys-topic.md): the address has a port.
    let mut r = registry(&["rmqtt"]);
    let payload = json!({"node":1,"ipaddress":"127.0.0.1:52114","clientid":"rmqtt-12312431wewr232",
        "username":"foo","keepalive":60,"proto_ver":4,"clean_session":true,
        "connected_at":ms(-2),"session_present":false,"time":"2023-08-15 11:11:46.984"});
    apply(
        &mut r,
        "$SYS/brokers/1/clients/rmqtt-12312431wewr232/connected",
        &payload.to_string(),
        t(0),
    );
    let row = r.get("rmqtt-12312431wewr232").unwrap();
    assert_eq!(
        (row.state, row.ip(), row.since),
        (State::Online, Some("127.0.0.1"), Some(t(-2)))
    );
    let gone = json!({"node":1,"ipaddress":"127.0.0.1:52114","clientid":"rmqtt-12312431wewr232",
        "username":"foo","disconnected_at":ms(-1),"reason":"Disconnect","time":"2023-08-15 11:11:46.984"});
    apply(
        &mut r,
        "$SYS/brokers/1/clients/rmqtt-12312431wewr232/disconnected",
        &gone.to_string(),
        t(1),
    );
    let row = r.get("rmqtt-12312431wewr232").unwrap();
    assert_eq!(
        (row.state, detail(row)),
        (State::Offline, "Disconnect".into())
    );
}

#[test]
fn nanomq_names_the_client_from_the_payload() {
    // NanoMQ's documented messages (its quick start, "client online/offline events").
    let mut r = registry(&["nanomq"]);
    let up = format!(
        r#"{{"username":"hello", "ts":{},"proto_name":"MQTT","keepalive":60,"return_code":"0","proto_ver":4,"client_id":"nanomq-8a2a5c2e","clean_start":1, "IPv4":"127.0.0.1"}}"#,
        ms(-3)
    );
    let c = apply(&mut r, "$SYS/brokers/connected", &up, t(0));
    assert_eq!(
        (c[0].name.as_str(), c[0].to),
        ("nanomq-8a2a5c2e", Some(State::Online))
    );
    let row = r.get("nanomq-8a2a5c2e").unwrap();
    assert_eq!((row.ip(), row.since), (Some("127.0.0.1"), Some(t(-3))));
    let down = format!(
        r#"{{"username":"hello","ts":{},"reason_code":"8b","client_id":"nanomq-8a2a5c2e","IPv4":"127.0.0.1"}}"#,
        ms(-1)
    );
    apply(&mut r, "$SYS/brokers/disconnected", &down, t(1));
    let row = r.get("nanomq-8a2a5c2e").unwrap();
    assert_eq!((row.state, detail(row)), (State::Offline, "8b".into()));
    // The topic alone names no client.
    assert_eq!(r.name_of("$SYS/brokers/connected"), None);
}

#[test]
fn aedes_names_the_client_by_the_payload_and_times_by_arrival() {
    let mut r = registry(&["aedes"]);
    let c = apply(&mut r, "$SYS/8f3e/new/clients", "sensor-7", t(0));
    assert_eq!(
        (c[0].name.as_str(), c[0].to),
        ("sensor-7", Some(State::Online))
    );
    apply(&mut r, "$SYS/8f3e/disconnect/clients", "sensor-7", t(4));
    let row = r.get("sensor-7").unwrap();
    assert_eq!(
        (row.state, row.since, detail(row)),
        (State::Offline, Some(t(4)), "disconnected".into())
    );
}

#[test]
fn aws_iot_lifecycle_events_and_their_order() {
    // AWS IoT's documented connect and disconnect messages ("Lifecycle events").
    let mut r = registry(&["aws-iot"]);
    let up = json!({"clientId":"186b5","timestamp":ms(-10),"eventType":"connected",
        "sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967",
        "principalIdentifier":"12345678901234567890123456789012","ipAddress":"192.0.2.0",
        "versionNumber":0});
    let down = json!({"clientId":"186b5","timestamp":ms(-20),"eventType":"disconnected",
        "sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967",
        "principalIdentifier":"12345678901234567890123456789012",
        "clientInitiatedDisconnect":true,"disconnectReason":"CLIENT_INITIATED_DISCONNECT",
        "versionNumber":0});
    apply(
        &mut r,
        "$aws/events/presence/connected/186b5",
        &up.to_string(),
        t(0),
    );
    // AWS says events may come out of order: an older disconnect does not end a newer
    // connection.
    let late = apply(
        &mut r,
        "$aws/events/presence/disconnected/186b5",
        &down.to_string(),
        t(1),
    );
    assert!(late.is_empty(), "{late:?}");
    let row = r.get("186b5").unwrap();
    assert_eq!(
        (row.state, row.ip(), row.since),
        (State::Online, Some("192.0.2.0"), Some(t(-10)))
    );
    let mut newer = down.clone();
    newer["timestamp"] = ms(-1).into();
    apply(
        &mut r,
        "$aws/events/presence/disconnected/186b5",
        &newer.to_string(),
        t(2),
    );
    let row = r.get("186b5").unwrap();
    assert_eq!(
        (row.state, detail(row), row.ip()),
        (
            State::Offline,
            "CLIENT_INITIATED_DISCONNECT".into(),
            Some("192.0.2.0")
        ),
        "a disconnect without an address keeps the connect's"
    );
}

#[test]
fn an_unbelievable_event_time_gives_way_to_the_arrival_time() {
    // Older NanoMQ writes its monotonic clock (milliseconds since boot) in `ts`; EMQX's
    // documented example is from 2021.
    let mut r = registry(&["nanomq", "emqx"]);
    apply(
        &mut r,
        "$SYS/brokers/connected",
        r#"{"ts":86400000,"client_id":"n1"}"#,
        t(0),
    );
    assert_eq!(r.get("n1").unwrap().since, Some(t(0)));
    apply(
        &mut r,
        "$SYS/brokers/e@h/clients/e1/connected",
        r#"{"connected_at":1625572213873,"clientid":"e1"}"#,
        t(5),
    );
    assert_eq!(r.get("e1").unwrap().since, Some(t(5)));
}

#[test]
fn our_own_connections_are_no_rows() {
    let mut r = registry(&["aedes", "emqx"]);
    r.hide("my-watcher");
    for topic in ["$SYS/x/new/clients", "$SYS/x/disconnect/clients"] {
        for id in ["mqtt-scan-0123456789abcdef", "my-watcher"] {
            assert!(apply(&mut r, topic, id, t(0)).is_empty(), "{topic} {id}");
        }
    }
    apply(
        &mut r,
        "$SYS/brokers/n/clients/mqtt-scan-00000000000000ff/connected",
        "{}",
        t(0),
    );
    assert!(r.is_empty());
    // A status convention's names are the user's business, whatever they look like.
    let mut plain = Registry::new(
        vec![Source::topic(crate::status::Pattern::parse("s/#").unwrap())],
        Vocabulary::default(),
    );
    plain.hide("mqtt-scan-0123456789abcdef");
    plain.fold(&live("s/mqtt-scan-0123456789abcdef", "1"), t(0));
    assert_eq!(plain.len(), 1);
}

#[test]
fn hostile_event_payloads_never_crash_and_name_no_one_they_cannot() {
    let mut r = registry(&["emqx", "nanomq", "aedes", "aws-iot"]);
    let big = "x".repeat(1 << 20);
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let garbage: [&[u8]; 8] = [
        b"",
        b"{not json",
        b"\xff\xfe\x00\x1b",
        b"[1,2,3]",
        br#"{"client_id":{"x":1}}"#,
        br#"{"client_id":"","ts":"yesterday"}"#,
        big.as_bytes(),
        nested.as_bytes(),
    ];
    for topic in [
        "$SYS/brokers/connected",
        "$SYS/brokers/disconnected",
        "$SYS/a/new/clients",
        "$SYS/a/disconnect/clients",
    ] {
        for payload in garbage {
            let obs = Observation {
                topic,
                payload,
                retained: false,
            };
            r.fold(&obs, t(0));
        }
    }
    // aedes names by the whole payload: text within MQTT's limit is an (odd) name; blank,
    // binary and oversized payloads name no one, and NanoMQ's garbage has no client_id.
    let names: Vec<String> = r
        .rows(SortKey::Name, None)
        .iter()
        .map(|row| row.name.chars().take(8).collect())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with('{') || n.starts_with('[')),
        "{names:?}"
    );
    // EMQX and AWS name by the topic: garbage payloads are events without details.
    for payload in garbage {
        let obs = Observation {
            topic: "$aws/events/presence/disconnected/dev",
            payload,
            retained: false,
        };
        r.fold(&obs, t(1));
        let row = r.get("dev").unwrap();
        assert_eq!((row.state, row.ip()), (State::Offline, None));
    }
    let row = r.get("dev").unwrap();
    assert!(detail(row).len() <= 64);
}
