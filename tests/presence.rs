//! Presence from broker events: the emqx, rmqtt, nanomq, aedes and aws-iot presets, with
//! the payloads those brokers document, seen by `watch`; `list` and `check` say they
//! cannot see clients that connected before them.
//!
//! mosquitto refuses client publishes to `$SYS/...` (its log: `Denied PUBLISH ...
//! '$SYS/brokers/connected'`), so the `$SYS` presets' payloads go to an aedes of the
//! test's own that allows them (tests/common/brokers.rs); `$aws/...` goes to mosquitto.
//! aedes's own events come from a real aedes with its default settings. Without node and
//! aedes those tests print one line and pass (under `CI=true` they fail).

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::brokers::{Broker, Kind};
use common::*;
use serde_json::json;

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A non-retained QoS 1 publish with libmosquitto's client, as a broker's event arrives.
fn publish(port: u16, topic: &str, payload: &[u8], client_id: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "payload", payload);
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"]);
    if let Some(id) = client_id {
        cmd.args(["-i", id]);
    }
    let out = cmd.args(["-t", topic, "-f"]).arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A broker's JSON event, published as [`publish`] does.
fn publish_json(port: u16, topic: &str, payload: &serde_json::Value) {
    publish(port, topic, payload.to_string().as_bytes(), None);
}

/// `watch --preset aws-iot` on `m`, once it has subscribed.
fn watch_aws_iot(m: &Mosquitto) -> Watch {
    let w = Watch::start(&m.url(), &["--preset", "aws-iot"]);
    wait_for("the watcher to subscribe", Duration::from_secs(10), || {
        m.log_text()
            .contains("$aws/events/presence/disconnected/+")
            .then_some(())
    });
    w
}

fn change(w: &Watch, name: &str, to: &str) -> serde_json::Value {
    w.wait_event(&format!("{name} {to}"), |e| is_change(e, name, to))
}

/// The one `mqtt-scan:` line that says an event preset sees only what comes while it runs.
fn notice_lines(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.contains("client events, which are not retained"))
        .collect()
}

#[test]
fn aws_iot_lifecycle_events_in_watch() {
    let m = Mosquitto::start();
    let w = watch_aws_iot(&m);
    // AWS IoT's documented connect and disconnect messages ("Lifecycle events").
    let up = json!({"clientId":"186b5","timestamp":now_ms(),"eventType":"connected",
        "sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967",
        "principalIdentifier":"12345678901234567890123456789012","ipAddress":"192.0.2.0",
        "versionNumber":0});
    publish_json(m.port, "$aws/events/presence/connected/186b5", &up);
    let on = change(&w, "186b5", "online");
    assert_eq!(on["from"], serde_json::Value::Null);
    assert_eq!(on["payload"]["ipAddress"], "192.0.2.0");
    assert_eq!(on["retained"], false);
    let down = json!({"clientId":"186b5","timestamp":now_ms() + 1,"eventType":"disconnected",
        "sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967",
        "principalIdentifier":"12345678901234567890123456789012",
        "clientInitiatedDisconnect":true,"disconnectReason":"CLIENT_INITIATED_DISCONNECT",
        "versionNumber":0});
    publish_json(m.port, "$aws/events/presence/disconnected/186b5", &down);
    let off = change(&w, "186b5", "offline");
    assert_eq!(off["from"], "online");
    assert_eq!(
        off["payload"]["disconnectReason"],
        "CLIENT_INITIATED_DISCONNECT"
    );
    // Neither the probe nor any scanner became a row.
    assert!(
        w.events()
            .iter()
            .all(|e| e["name"].is_null() || e["name"] == "186b5"),
        "{:?}",
        w.lines()
    );
}

#[test]
fn hostile_event_payloads_are_rows_without_details_or_nothing() {
    let m = Mosquitto::start();
    let w = watch_aws_iot(&m);
    let nested = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let huge = vec![b'x'; 1 << 20];
    let garbage: [&[u8]; 5] = [
        b"{not json",
        b"\xff\xfe\x00\x1b[2J",
        br#"{"timestamp":"yesterday","ipAddress":{"x":1},"disconnectReason":[1]}"#,
        nested.as_bytes(),
        &huge,
    ];
    for (i, payload) in garbage.iter().enumerate() {
        publish(
            m.port,
            &format!("$aws/events/presence/connected/bad{i}"),
            payload,
            None,
        );
    }
    for i in 0..garbage.len() {
        change(&w, &format!("bad{i}"), "online");
    }
    // Still reading: a good event after the garbage is seen.
    publish(
        m.port,
        "$aws/events/presence/disconnected/bad0",
        br#"{"clientId":"bad0","disconnectReason":"CONNECTION_LOST"}"#,
        None,
    );
    change(&w, "bad0", "offline");
}

#[test]
fn list_and_check_say_plainly_that_only_a_watcher_sees_event_clients() {
    let m = Mosquitto::start();
    m.retain("tele/plug-1/LWT", "Online");
    let out = scan(&m.url(), &["list", "--json", "--preset", "aws-iot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let lines = notice_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("mqtt-scan: --preset aws-iot reads the broker's client events"),
        "{err}"
    );
    assert!(
        lines[0].contains("mqtt-scan watch --preset aws-iot"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["total"], 0, "the probe is no row: {doc}");

    // Only event presets: nothing to judge, so UNKNOWN, not a false OK or CRITICAL.
    let out = scan(
        &m.url(),
        &["check", "--preset", "aws-iot", "--expect", "186b5"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains("UNKNOWN"), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(notice_lines(&err).len(), 1, "{err}");
    assert!(err.contains("check cannot judge"), "{err}");

    // With a retained convention beside it, check judges that, and says the rest once.
    let out = scan(
        &m.url(),
        &[
            "check", "--preset", "aws-iot", "--preset", "tasmota", "--expect", "plug-1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(notice_lines(&stderr(&out)).len(), 1, "{}", stderr(&out));

    // Two event presets: still one line, naming both.
    let out = scan(
        &m.url(),
        &["list", "--preset", "aws-iot", "--preset", "emqx"],
    );
    let err = stderr(&out);
    let lines = notice_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("--preset aws-iot --preset emqx read "),
        "{err}"
    );
}

#[test]
fn presets_list_the_event_presets_and_how_they_name() {
    let out = Command::new(BIN).arg("presets").output().unwrap();
    let text = stdout(&out);
    for line in [
        "    $SYS/brokers/+/clients/+/connected (named by the 2nd +)",
        "    $SYS/brokers/connected (named by the payload's client_id)",
        "    $SYS/+/new/clients (named by the payload)",
        "    $aws/events/presence/disconnected/+",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
}

#[test]
fn emqx_rmqtt_and_nanomq_events_in_watch() {
    let Some(b) = Broker::aedes_allowing_sys() else {
        return;
    };
    let w = Watch::start(&b.url(), &["--preset", "emqx", "--preset", "nanomq"]);
    b.wait_subscribed("$SYS/brokers/disconnected");
    let at = now_ms();
    // EMQX's documented payloads (docs.emqx.com, "System Topic").
    let up = json!({"username":"foo","ts":at,"sockport":1883,"proto_ver":4,"proto_name":"MQTT",
        "keepalive":60,"ipaddress":"127.0.0.1","expiry_interval":0,"connected_at":at,
        "connack":0,"clientid":"emqtt-8348fe27a87976ad4db3","clean_start":true});
    publish_json(
        b.port,
        "$SYS/brokers/emqx@127.0.0.1/clients/emqtt-8348fe27a87976ad4db3/connected",
        &up,
    );
    let on = change(&w, "emqtt-8348fe27a87976ad4db3", "online");
    assert_eq!(on["payload"]["ipaddress"], "127.0.0.1");
    let down = json!({"username":"foo","ts":at + 5,"sockport":1883,"reason":"tcp_closed",
        "proto_ver":4,"proto_name":"MQTT","ipaddress":"127.0.0.1","disconnected_at":at + 5,
        "clientid":"emqtt-8348fe27a87976ad4db3"});
    publish_json(
        b.port,
        "$SYS/brokers/emqx@127.0.0.1/clients/emqtt-8348fe27a87976ad4db3/disconnected",
        &down,
    );
    let off = change(&w, "emqtt-8348fe27a87976ad4db3", "offline");
    assert_eq!(off["payload"]["reason"], "tcp_closed");

    // RMQTT's documented payload (docs/en_US/sys-topic.md) on the same topics.
    let rm = json!({"node":1,"ipaddress":"127.0.0.1:1883","clientid":"rmqtt-12312431wewr232",
        "username":"foo","keepalive":60,"proto_ver":4,"clean_session":true,
        "connected_at":at,"session_present":false,"time":"2023-08-15 11:11:46.984"});
    publish_json(
        b.port,
        "$SYS/brokers/1/clients/rmqtt-12312431wewr232/connected",
        &rm,
    );
    change(&w, "rmqtt-12312431wewr232", "online");

    // NanoMQ's documented messages: the name is the payload's client_id.
    let nano_up = format!(
        r#"{{"username":"hello", "ts":{at},"proto_name":"MQTT","keepalive":60,"return_code":"0","proto_ver":4,"client_id":"nanomq-8a2a5c2e","clean_start":1, "IPv4":"127.0.0.1"}}"#
    );
    publish(b.port, "$SYS/brokers/connected", nano_up.as_bytes(), None);
    let on = change(&w, "nanomq-8a2a5c2e", "online");
    assert_eq!(on["topic"], "$SYS/brokers/connected");
    let nano_down = format!(
        r#"{{"username":"hello","ts":{},"reason_code":"8b","client_id":"nanomq-8a2a5c2e","IPv4":"127.0.0.1"}}"#,
        at + 5
    );
    publish(
        b.port,
        "$SYS/brokers/disconnected",
        nano_down.as_bytes(),
        None,
    );
    change(&w, "nanomq-8a2a5c2e", "offline");
    // A NanoMQ event without a usable client_id names no one.
    publish(b.port, "$SYS/brokers/connected", br#"{"ts":1}"#, None);
    publish(b.port, "$SYS/brokers/connected", b"garbage", None);
    publish(
        b.port,
        "$SYS/brokers/connected",
        br#"{"client_id":"after-garbage"}"#,
        None,
    );
    change(&w, "after-garbage", "online");
    let names: Vec<String> = w
        .events()
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        [
            "emqtt-8348fe27a87976ad4db3",
            "emqtt-8348fe27a87976ad4db3",
            "rmqtt-12312431wewr232",
            "nanomq-8a2a5c2e",
            "nanomq-8a2a5c2e",
            "after-garbage"
        ]
    );
}

#[test]
fn aedes_own_client_events_in_watch() {
    // A real aedes, default settings: it publishes `$SYS/<id>/new/clients` and
    // `.../disconnect/clients` with the client id as the payload.
    let b = broker_or_skip!(Kind::Aedes);
    let w = Watch::start(&b.url(), &["--preset", "aedes"]);
    b.wait_subscribed("$SYS/+/disconnect/clients");
    // Another scanner's snapshot comes and goes: no row.
    let out = scan(&b.url(), &["list", "--preset", "aedes"]);
    assert_eq!(notice_lines(&stderr(&out)).len(), 1, "{}", stderr(&out));
    // A real client connects, publishes, and leaves.
    publish(b.port, "plain/topic", b"hello", Some("sensor-7"));
    let on = change(&w, "sensor-7", "online");
    assert_eq!(on["payload"], "sensor-7");
    change(&w, "sensor-7", "offline");
    let names: Vec<String> = w
        .events()
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["sensor-7", "sensor-7"], "{:?}", w.lines());
}

#[test]
fn rmqtt_own_client_events_in_watch() {
    // A real rmqtt (tests/brokers/rmqtt) with its sys-topic plugin: it publishes
    // `$SYS/brokers/<node>/clients/<id>/connected` and `.../disconnected`, JSON with the
    // client's socket address and, on disconnect, the reason.
    let b = broker_or_skip!(Kind::Rmqtt);
    let w = Watch::start(&b.url(), &["--preset", "rmqtt"]);
    // rmqtt logs no subscriptions: a client comes and goes until the watcher sees one.
    wait_for(
        "the watcher to see a client",
        Duration::from_secs(20),
        || {
            publish(b.port, "plain/topic", b"hello", Some("first-dev"));
            wait_briefly(|| {
                w.events()
                    .iter()
                    .any(|e| is_change(e, "first-dev", "online"))
                    .then_some(())
            })
        },
    );
    // Killed even when an assertion fails first.
    let mut sub = Killed(
        Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &b.port.to_string()])
            .args(["-i", "meter-9", "-t", "x/y"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let on = change(&w, "meter-9", "online");
    assert!(on["payload"].to_string().contains("ipaddress"), "{on}");
    sub.0.kill().unwrap();
    sub.0.wait().unwrap();
    let off = change(&w, "meter-9", "offline");
    assert!(off["payload"].to_string().contains("reason"), "{off}");
    // Our own connections (generated ids) never became rows.
    assert!(
        w.events()
            .iter()
            .all(|e| !e["name"].as_str().unwrap_or("").starts_with("mqtt-scan-")),
        "{:?}",
        w.lines()
    );
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
