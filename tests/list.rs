//! `mqtt-scan list` against a real mosquitto, with real clients from libmosquitto and rumqttc.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn retained_online_and_offline_clients_are_listed() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    m.retain("sensors/connected/sensor2", "0");
    m.retain("sensors/connected/sensor10", "online");
    m.retain("elsewhere/x", "1");
    let doc = list_json(&m.url(), &[]);
    assert_eq!(doc["complete"], true);
    assert_eq!(doc["topics"], serde_json::json!(["sensors/connected/#"]));
    assert_eq!(
        doc["summary"],
        serde_json::json!({"total":3,"online":2,"offline":1,"unknown":0})
    );
    let names: Vec<&str> = doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sensor1", "sensor2", "sensor10"], "natural order");
    let s2 = client(&doc, "sensor2").unwrap();
    assert_eq!(s2["state"], "offline");
    assert_eq!(s2["retained"], true);
    assert_eq!(s2["since"], serde_json::Value::Null);
    assert_eq!(s2["topic"], "sensors/connected/sensor2");
    assert_eq!(client(&doc, "sensor10").unwrap()["detail"], "online");
}

#[test]
fn table_is_the_default_and_shows_a_summary() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/a", "1");
    m.retain("sensors/connected/b", "lost");
    let out = scan(&m.url(), &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{text}");
    assert!(
        lines[1].starts_with("a ") && lines[1].contains("online"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("b ") && lines[2].contains("offline") && lines[2].contains("lost"),
        "{text}"
    );
    assert_eq!(lines[3], "2 clients: 1 online, 1 offline, 0 unknown");
    assert!(!text.contains('\x1b'), "no colour when piped");
}

#[test]
fn color_always_colours_the_state_column() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/a", "1");
    let out = scan(&m.url(), &["list", "--color", "always"]);
    assert!(
        stdout(&out).contains("\x1b[32monline\x1b[0m"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_last_will_marks_a_dropped_client_offline() {
    let m = Mosquitto::start();
    // A libmosquitto client with a retained Will, to be killed without DISCONNECT.
    let mut device = will_client(&m, "dev-will");
    m.retain("sensors/connected/dev-will", "1");
    let doc = list_json(&m.url(), &[]);
    assert_eq!(client(&doc, "dev-will").unwrap()["state"], "online");
    device.kill().unwrap();
    device.wait().unwrap();
    wait_for(
        "the Will to mark dev-will offline",
        Duration::from_secs(10),
        || {
            let doc = list_json(&m.url(), &[]);
            (client(&doc, "dev-will")?["state"] == "offline").then_some(())
        },
    );
}

#[test]
fn json_payloads_give_time_address_and_reported_name() {
    let m = Mosquitto::start();
    m.retain(
        "sensors/connected/j1",
        r#"{"status":1,"ts":1795255201,"ip":"10.1.2.3","client":"j1-real","fw":"2.1"}"#,
    );
    m.retain(
        "sensors/connected/j2",
        r#"{"state":"offline","timestamp":1795255201000}"#,
    );
    m.retain(
        "sensors/connected/j3",
        r#"{"connected":true,"time":"2026-11-21T10:00:01Z"}"#,
    );
    let doc = list_json(&m.url(), &[]);
    let j1 = client(&doc, "j1").unwrap();
    assert_eq!(j1["state"], "online");
    assert_eq!(j1["since"], "2026-11-21T10:00:01Z");
    assert_eq!(j1["ip"], "10.1.2.3");
    assert_eq!(j1["reported_name"], "j1-real");
    assert_eq!(j1["payload"]["fw"], "2.1");
    assert_eq!(j1["detail"], 1);
    let j2 = client(&doc, "j2").unwrap();
    assert_eq!(
        (j2["state"].as_str(), j2["since"].as_str()),
        (Some("offline"), Some("2026-11-21T10:00:01Z"))
    );
    let j3 = client(&doc, "j3").unwrap();
    assert_eq!(
        (j3["state"].as_str(), j3["detail"].as_bool()),
        (Some("online"), Some(true))
    );
}

#[test]
fn dollar_connected_topics_work_when_named() {
    let m = Mosquitto::start();
    m.retain("$CONNECTED/client-9", "1");
    m.retain("$CONNECTED/client-10", "0");
    let doc = list_json(&m.url(), &["-t", "$CONNECTED/#"]);
    assert_eq!(doc["summary"]["total"], 2);
    assert_eq!(client(&doc, "client-9").unwrap()["state"], "online");
    // A leading wildcard never matches `$` topics. mosquitto never sends them to `#` either,
    // so this half checks the end-to-end result; the client-side rule is unit-tested in
    // status::pattern.
    let doc = list_json(&m.url(), &["-t", "#"]);
    assert!(client(&doc, "client-9").is_none());
    assert!(doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| !c["topic"].as_str().unwrap().starts_with('$')));
}

#[test]
fn templates_and_several_patterns_make_one_table() {
    let m = Mosquitto::start();
    m.retain("tele/plug-1/LWT", "Online");
    m.retain("tele/plug-2/LWT", "Offline");
    m.retain("devices/s7/connected", "2");
    let doc = list_json(
        &m.url(),
        &["-t", "tele/{name}/LWT", "-t", "devices/+/connected"],
    );
    assert_eq!(
        doc["topics"],
        serde_json::json!(["tele/+/LWT", "devices/+/connected"])
    );
    assert_eq!(client(&doc, "plug-1").unwrap()["detail"], "Online");
    assert_eq!(client(&doc, "plug-2").unwrap()["state"], "offline");
    assert_eq!(client(&doc, "s7").unwrap()["state"], "online");
}

#[test]
fn an_empty_retained_payload_removes_the_row() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/gone", "0");
    m.retain("sensors/connected/stays", "1");
    assert!(client(&list_json(&m.url(), &[]), "gone").is_some());
    m.clear("sensors/connected/gone");
    let doc = list_json(&m.url(), &[]);
    assert!(client(&doc, "gone").is_none());
    assert!(client(&doc, "stays").is_some());
}

#[test]
fn mqtt5_lists_the_same_table() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/v5a", "1");
    m.retain("sensors/connected/v5b", r#"{"status":0,"ts":1795255201}"#);
    let doc = list_json(&m.url(), &["--mqtt-version", "5"]);
    assert_eq!(doc["complete"], true);
    assert_eq!(client(&doc, "v5a").unwrap()["state"], "online");
    assert_eq!(
        client(&doc, "v5b").unwrap()["since"],
        "2026-11-21T10:00:01Z"
    );
    assert!(
        m.log_text().contains("p5"),
        "the broker saw an MQTT 5 client"
    );
}

#[test]
fn only_sort_and_the_other_formats() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/n2", "1");
    m.retain("sensors/connected/n1", "0");
    m.retain("sensors/connected/n3", "huh");
    let doc = list_json(&m.url(), &["--only", "offline"]);
    assert_eq!(doc["clients"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["summary"]["total"], 3,
        "the summary counts the whole table"
    );

    let out = scan(&m.url(), &["list", "--format", "jsonl", "--sort", "state"]);
    let names: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["n1", "n3", "n2"], "offline, unknown, online");

    let out = scan(&m.url(), &["list", "--format", "csv"]);
    let csv = stdout(&out);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "name,state,detail,topic,payload,retained,since,last_seen,ip,changes,reported_name,source"
    );
    assert!(lines
        .next()
        .unwrap()
        .starts_with("n1,offline,0,sensors/connected/n1,0,true,,"));
    assert_eq!(csv.lines().count(), 4);
}

#[test]
fn an_empty_broker_gives_an_empty_table() {
    let m = Mosquitto::start();
    let doc = list_json(&m.url(), &[]);
    assert_eq!(doc["summary"]["total"], 0);
    assert_eq!(doc["clients"], serde_json::json!([]));
    let out = scan(&m.url(), &["list"]);
    assert_eq!(stdout(&out), "0 clients: 0 online, 0 offline, 0 unknown\n");
}

#[test]
fn twenty_thousand_retained_statuses_at_qos1_are_all_listed() {
    let m = Mosquitto::start();
    let offline = seed(m.port, 20_000, 7);
    let doc = list_json(&m.url(), &[]);
    assert_eq!(doc["complete"], true);
    assert_eq!(doc["summary"]["total"], 20_000);
    assert_eq!(doc["summary"]["offline"], offline);
    assert_eq!(doc["clients"].as_array().unwrap().len(), 20_000);
}

#[test]
fn a_probe_that_never_returns_ends_at_wait_and_says_incomplete() {
    // An ACL that lets anonymous clients read but not publish: the probe is dropped.
    let m = Mosquitto::with(|port, dir| {
        let acl = write(dir, "acl", "topic read #\ntopic read $SYS/#\n");
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
            acl.display()
        )
    });
    let started = std::time::Instant::now();
    let out = scan(&m.url(), &["list", "--json", "--wait", "1s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["complete"], false);
    assert!(
        stderr(&out).starts_with("mqtt-scan: warning: the snapshot may be incomplete"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn mosquitto_skips_the_settle_window_and_other_brokers_get_it() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/a", "1");
    let started = std::time::Instant::now();
    let doc = list_json(&m.url(), &["--settle", "3s"]);
    assert_eq!(doc["complete"], true);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "mosquitto announced itself: no settle wait"
    );

    // Without $SYS, nothing says the broker is mosquitto: the settle window must pass.
    let quiet = Mosquitto::with(|port, _| {
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 0\n")
    });
    quiet.retain("sensors/connected/b", "0");
    let started = std::time::Instant::now();
    let doc = list_json(&quiet.url(), &["--settle", "1s"]);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(doc["complete"], true);
    assert_eq!(client(&doc, "b").unwrap()["state"], "offline");
}

#[test]
fn ctrl_c_during_the_snapshot_exits_130() {
    // The probe is dropped by the ACL, so the snapshot would wait the full --wait.
    let m = Mosquitto::with(|port, dir| {
        let acl = write(dir, "acl", "topic read #\n");
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
            acl.display()
        )
    });
    let child = Command::new(BIN)
        .args(["list", "-b", &m.url(), "--wait", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    wait_for("mqtt-scan to subscribe", Duration::from_secs(10), || {
        m.log_text().contains("Received SUBSCRIBE").then_some(())
    });
    let started = std::time::Instant::now();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.stdout.is_empty(), "nothing half-printed");
}

#[test]
fn wait_bounds_the_snapshot_while_messages_never_stop() {
    // No $SYS: the settle window decides. Big JSON statuses arriving faster than they can be
    // folded keep the queue full; `list` must still end at --wait, not run on.
    let m = Mosquitto::with(|port, _| {
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 0\nmax_queued_messages 100000\n")
    });
    m.retain("sensors/connected/steady", "1");
    let big = format!(r#"{{"status":1,"pad":[{}0]}}"#, "1,".repeat(40_000)).into_bytes();
    let floods: Vec<Flood> = (0..3)
        .map(|i| Flood::start(m.port, &format!("sensors/connected/flood{i}"), big.clone()))
        .collect();
    wait_for(
        "the flood to reach the broker",
        Duration::from_secs(10),
        || m.log_text().contains("flood2").then_some(()),
    );
    let started = std::time::Instant::now();
    let out = scan(
        &m.url(),
        &["list", "--json", "--wait", "2s", "--settle", "500ms"],
    );
    let elapsed = started.elapsed();
    drop(floods);
    assert!(out.status.success(), "{}", stderr(&out));
    // Generous for a loaded machine; without the bound it ran for minutes.
    assert!(
        elapsed < Duration::from_secs(15),
        "--wait 2s took {elapsed:?}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(client(&doc, "steady").unwrap()["state"], "online");
}

#[test]
fn client_ids_with_wildcards_and_sort_since() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/late", r#"{"status":1,"ts":1795255300}"#);
    m.retain("sensors/connected/early", r#"{"status":0,"ts":1795255200}"#);
    m.retain("sensors/connected/unknown-time", "1");
    let doc = list_json(&m.url(), &["--client-id", "scan+er/#1", "--sort", "since"]);
    assert_eq!(doc["complete"], true);
    let names: Vec<&str> = doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["early", "late", "unknown-time"]);
}

#[test]
fn topics_from_the_environment_split_on_commas_and_flags_do_not() {
    let m = Mosquitto::start();
    m.retain("a/x", "1");
    m.retain("b/y", "0");
    m.retain("c,d/z", "1");
    let out = Command::new(BIN)
        .args(["list", "--json", "-b", &m.url()])
        .env("MQTT_SCAN_TOPIC", "a/#, b/#")
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["topics"], serde_json::json!(["a/#", "b/#"]));
    assert_eq!(doc["summary"]["total"], 2);
    let doc = list_json(&m.url(), &["-t", "c,d/#"]);
    assert_eq!(doc["topics"], serde_json::json!(["c,d/#"]));
    assert_eq!(client(&doc, "z").unwrap()["state"], "online");
}

#[test]
fn a_broker_that_is_not_running_is_exit_1_with_a_hint() {
    let port = free_port();
    let out = scan(&format!("127.0.0.1:{port}"), &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("mqtt-scan: connection refused by 127.0.0.1:{port}: is the broker running?\n")
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_broker_that_never_answers_connect_times_out() {
    // Accepts TCP, never sends CONNACK.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let out = scan(
        &format!("127.0.0.1:{port}"),
        &["list", "--connect-timeout", "700ms"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!(
            "mqtt-scan: 127.0.0.1:{port} accepted the connection but sent no CONNACK within 700ms"
        )),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
}

#[test]
fn websockets_reach_the_same_broker() {
    let ws_port = free_port();
    // mosquitto 2.0.11 will not start with a WebSocket listener alone: keep a plain one.
    let m = Mosquitto::with(move |port, _| {
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nlistener {ws_port} 127.0.0.1\nprotocol websockets\n")
    });
    m.retain("sensors/connected/over-ws", "1");
    let doc = list_json(&format!("ws://127.0.0.1:{ws_port}/mqtt"), &[]);
    assert_eq!(client(&doc, "over-ws").unwrap()["state"], "online");
    assert_eq!(doc["broker"], format!("ws://127.0.0.1:{ws_port}/mqtt"));
}

/// A child process killed however the test ends.
struct Witness(std::process::Child);

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_nudge_goes_to_the_probe_ack_topic_and_leaves_no_row_or_retained_trace() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;

    let m = Mosquitto::start();
    for (n, p) in [("a", "1"), ("b", "0"), ("c", "online")] {
        m.retain(&format!("sensors/connected/{n}"), p);
    }
    // A witness subscribed to the nudge topic (and to a marker that proves it is listening).
    let mut witness = Witness(
        Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &m.port.to_string(), "-v"])
            .args(["-t", "witness/ready", "-t", "mqtt-scan/probe/+/ack"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let out = witness.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    wait_for("the witness to listen", Duration::from_secs(10), || {
        m.pub_cmd(&["-t", "witness/ready", "-m", "x"]);
        rx.recv_timeout(Duration::from_millis(100)).ok()
    });

    // With `#`: every topic the scan itself touches would show up here if it could.
    let doc = list_json(&m.url(), &["-t", "#"]);
    let names: Vec<&str> = doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["topic"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sensors/connected/a",
            "sensors/connected/b",
            "sensors/connected/c"
        ],
        "only the statuses are rows"
    );
    // On mosquitto a nudge always follows `$SYS/broker/version`.
    let nudge = wait_for("a nudge", Duration::from_secs(10), || {
        rx.recv_timeout(Duration::from_millis(100))
            .ok()
            .filter(|l| l.contains("/ack"))
    });
    // `mosquitto_sub -v` prints an empty payload as `(null)`.
    let (topic, payload) = nudge.split_once(' ').unwrap_or((&nudge, ""));
    assert!(
        topic.starts_with("mqtt-scan/probe/") && topic.ends_with("/ack") && payload == "(null)",
        "an empty message on the probe's ack topic: {nudge:?}"
    );
    drop(witness);
    let retained = m.sub_cmd(&["-t", "mqtt-scan/#", "--retained-only", "-W", "1", "-v"]);
    assert!(
        retained.stdout.is_empty(),
        "nothing retained under mqtt-scan/: {}",
        String::from_utf8_lossy(&retained.stdout)
    );
}

#[test]
fn an_empty_broker_is_complete_and_the_retained_check_leaves_nothing_behind() {
    // No retained status through a wildcard: list asks whether the broker delivers retained
    // messages to wildcards at all (RabbitMQ does not). mosquitto does: no warning.
    let m = Mosquitto::start();
    let out = scan(&m.url(), &["list", "--json"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["complete"], true);
    assert!(
        m.log_text().contains("mqtt-scan/retained-check/"),
        "the check ran"
    );
    let left = list_json(&m.url(), &["-t", "mqtt-scan/#"]);
    assert_eq!(left["summary"]["total"], 0, "cleared again: {left}");
}

#[test]
fn an_acl_that_drops_the_retained_check_leaves_an_empty_list_as_it_was() {
    // MQTT 3.1.1 cannot say a publish was refused: the exact topic's copy never arrives
    // either, so the check cannot tell, and says nothing.
    let m = Mosquitto::with(|port, dir| {
        let acl = write(
            dir,
            "acl",
            "topic read #\ntopic read $SYS/#\ntopic write mqtt-scan/probe/#\n",
        );
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
            acl.display()
        )
    });
    let out = scan(&m.url(), &["list", "--json"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["complete"], true);
}
