//! The presets against a real mosquitto: each convention's topics and states, one mixed
//! table, and Sparkplug B in `watch`.

mod common;

use std::process::Command;

use common::*;
use mqtt_scan::status::sparkplug::{encode, Certificate};

fn state_detail(doc: &serde_json::Value, name: &str) -> (String, String) {
    let c = client(doc, name).unwrap_or_else(|| panic!("no row {name} in {doc}"));
    (
        c["state"].as_str().unwrap().to_owned(),
        match &c["detail"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    )
}

fn sd(s: &str, d: &str) -> (String, String) {
    (s.to_owned(), d.to_owned())
}

#[test]
fn smarthome_zero_one_and_two() {
    let m = Mosquitto::start();
    m.retain("hue/connected", "2");
    m.retain("knx/connected", "1");
    m.retain("zwave/connected", "0");
    let doc = list_json(&m.url(), &["--preset", "smarthome"]);
    assert_eq!(doc["topics"], serde_json::json!(["+/connected"]));
    assert_eq!(state_detail(&doc, "hue"), sd("online", "2"));
    assert_eq!(state_detail(&doc, "knx"), sd("online", "1"));
    assert_eq!(state_detail(&doc, "zwave"), sd("offline", "0"));
    assert_eq!(client(&doc, "hue").unwrap()["source"], "smarthome");
}

#[test]
fn homie_states_including_sleeping_lost_and_alert_and_a_lost_root() {
    let m = Mosquitto::start();
    m.retain("homie/kitchen/$state", "ready");
    m.retain("homie/garage/$state", "sleeping");
    m.retain("homie/attic/$state", "lost");
    m.retain("homie/door/$state", "alert");
    m.retain("homie/boot/$state", "init");
    m.retain("homie/5/hub/$state", "lost");
    m.retain(
        "homie/5/child/$description",
        r#"{"homie":"5.0","version":1,"root":"hub","parent":"hub"}"#,
    );
    m.retain("homie/5/child/$state", "ready");
    let doc = list_json(&m.url(), &["--preset", "homie"]);
    assert_eq!(state_detail(&doc, "kitchen"), sd("online", "ready"));
    assert_eq!(state_detail(&doc, "garage"), sd("offline", "sleeping"));
    assert_eq!(state_detail(&doc, "attic"), sd("offline", "lost"));
    assert_eq!(state_detail(&doc, "door"), sd("online", "alert"));
    assert_eq!(state_detail(&doc, "boot"), sd("online", "init"));
    assert_eq!(
        state_detail(&doc, "child"),
        sd("offline", "lost"),
        "its root is lost"
    );
    assert_eq!(doc["summary"]["total"], 7, "the description is not a row");
}

#[test]
fn tasmota_esphome_and_shelly() {
    let m = Mosquitto::start();
    m.retain("tele/plug-1/LWT", "Online");
    m.retain("tele/plug-2/LWT", "Offline");
    m.retain("livingroom-esp/status", "online");
    m.retain("garden-esp/status", "offline");
    m.retain("shellies/shelly1-AB12/online", "true");
    m.retain("shellies/shelly1-CD34/online", "false");
    let doc = list_json(
        &m.url(),
        &[
            "--preset", "tasmota", "--preset", "esphome", "--preset", "shelly",
        ],
    );
    assert_eq!(state_detail(&doc, "plug-1"), sd("online", "Online"));
    assert_eq!(state_detail(&doc, "plug-2"), sd("offline", "Offline"));
    assert_eq!(state_detail(&doc, "livingroom-esp"), sd("online", "online"));
    assert_eq!(state_detail(&doc, "garden-esp"), sd("offline", "offline"));
    assert_eq!(state_detail(&doc, "shelly1-AB12"), sd("online", "true"));
    assert_eq!(state_detail(&doc, "shelly1-CD34"), sd("offline", "false"));
    for (name, source) in [
        ("plug-1", "tasmota"),
        ("garden-esp", "esphome"),
        ("shelly1-AB12", "shelly"),
    ] {
        assert_eq!(client(&doc, name).unwrap()["source"], source);
    }
}

#[test]
fn zigbee2mqtt_plain_json_and_friendly_names_with_slashes() {
    let m = Mosquitto::start();
    m.retain("zigbee2mqtt/bridge/state", r#"{"state":"online"}"#);
    m.retain("zigbee2mqtt/kitchen-plug/availability", "online");
    m.retain(
        "zigbee2mqtt/living/lamp/availability",
        r#"{"state":"offline"}"#,
    );
    m.retain("zigbee2mqtt/kitchen-plug", r#"{"power":12}"#);
    let doc = list_json(&m.url(), &["--preset", "zigbee2mqtt"]);
    assert_eq!(state_detail(&doc, "bridge"), sd("online", "online"));
    assert_eq!(state_detail(&doc, "kitchen-plug"), sd("online", "online"));
    assert_eq!(state_detail(&doc, "living/lamp"), sd("offline", "offline"));
    assert_eq!(doc["summary"]["total"], 3, "device data is not a status");
}

#[test]
fn a_mixed_fleet_is_one_table_with_a_source_column() {
    let m = Mosquitto::start();
    m.retain("tele/plug-1/LWT", "Online");
    m.retain("homie/kitchen/$state", "ready");
    m.retain("sensors/connected/plain1", "0");
    let args = [
        "list",
        "-t",
        "sensors/connected/#",
        "--preset",
        "tasmota",
        "--preset",
        "homie",
    ];
    let out = scan(&m.url(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().next().unwrap().ends_with("SOURCE"), "{text}");
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_owned()
    };
    assert!(row("plug-1").ends_with("tasmota"), "{text}");
    assert!(row("kitchen").ends_with("homie"));
    assert!(row("plain1").ends_with("topic"));
    assert!(text.contains("3 clients: 2 online, 1 offline"));
}

#[test]
fn presets_are_listed_and_unknown_ones_are_usage_errors() {
    let out = Command::new(BIN).arg("presets").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    for name in [
        "smarthome",
        "homie",
        "tasmota",
        "esphome",
        "zigbee2mqtt",
        "shelly",
        "sparkplug",
        "emqx",
        "rmqtt",
        "nanomq",
        "aedes",
        "aws-iot",
    ] {
        assert!(text.lines().any(|l| l == name), "{name} in {text}");
    }
    assert!(text.contains("    spBv1.0/+/NBIRTH/+"));
    let out = Command::new(BIN)
        .args(["list", "--preset", "help"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), text);
    let out = Command::new(BIN)
        .args(["list", "--preset", "homey"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("mqtt-scan: unknown preset 'homey': use one of smarthome, homie"),
        "{}",
        stderr(&out)
    );
}

fn publish_bytes(m: &Mosquitto, topic: &str, payload: &[u8]) {
    publish_raw_qos(m.port, topic, payload);
}

/// A non-retained QoS 1 publish of raw bytes (Sparkplug births and deaths are not retained).
fn publish_raw_qos(port: u16, topic: &str, payload: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "payload.bin", payload);
    let out = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
            "-f",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cert(bd: u64) -> Vec<u8> {
    encode(&Certificate {
        timestamp: Some(1_795_255_201_000),
        seq: Some(0),
        bd_seq: Some(bd),
    })
}

#[test]
fn sparkplug_in_watch_births_deaths_a_stale_death_and_devices() {
    let m = Mosquitto::start();
    let w = Watch::start(&m.url(), &["--preset", "sparkplug"]);
    wait_for(
        "the watcher to subscribe",
        std::time::Duration::from_secs(10),
        || m.log_text().contains("spBv1.0/+/NDEATH/+").then_some(()),
    );
    publish_bytes(&m, "spBv1.0/plant/NBIRTH/edge1", &cert(1));
    let birth = w.wait_event("NBIRTH online", |e| is_change(e, "plant/edge1", "online"));
    assert_eq!(birth["payload"]["bdSeq"], 1);
    publish_bytes(&m, "spBv1.0/plant/DBIRTH/edge1/pump", &cert(1));
    w.wait_event("DBIRTH online", |e| {
        is_change(e, "plant/edge1/pump", "online")
    });

    // Reborn with bdSeq 2; then the first session's late death (bdSeq 1): ignored.
    publish_bytes(&m, "spBv1.0/plant/NBIRTH/edge1", &cert(2));
    publish_bytes(&m, "spBv1.0/plant/NDEATH/edge1", &cert(1));
    publish_bytes(&m, "spBv1.0/plant/DBIRTH/edge1/valve", &cert(2));
    w.wait_event("a later event", |e| {
        is_change(e, "plant/edge1/valve", "online")
    });
    assert!(
        !w.events()
            .iter()
            .any(|e| is_change(e, "plant/edge1", "offline")),
        "the stale NDEATH was ignored"
    );

    publish_bytes(&m, "spBv1.0/plant/DDEATH/edge1/valve", &cert(2));
    w.wait_event("DDEATH offline", |e| {
        is_change(e, "plant/edge1/valve", "offline")
    });

    // The real death: the node and its devices still online go offline.
    publish_bytes(&m, "spBv1.0/plant/NDEATH/edge1", &cert(2));
    w.wait_event("NDEATH offline", |e| is_change(e, "plant/edge1", "offline"));
    let pump = w.wait_event("the pump with its node", |e| {
        is_change(e, "plant/edge1/pump", "offline")
    });
    assert_eq!(pump["from"], "online");
}
