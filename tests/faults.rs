//! Faults, against a real mosquitto: a broker killed and restarted under `list`, `watch`
//! and `announce`; a connection cut in the middle of the snapshot; a broker that hangs
//! after CONNACK; messages lost on the way (and the broker's retained count that shows
//! it); a 100,000-status fleet on a default-config broker.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .env_remove("MQTT_SCAN_TOPIC")
        .env_remove("MQTT_SCAN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) for the child to exit and returns its output.
fn finish(mut child: Child, within: Duration) -> std::process::Output {
    wait_for("the process to exit", within, || child.try_wait().unwrap());
    child.wait_with_output().unwrap()
}

/// One line on stderr, starting `mqtt-scan: `, with no Debug output in it.
fn one_clear_line(err: &str) {
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("mqtt-scan: "), "{err}");
    for debug in [
        "{ ",
        "Os {",
        "kind:",
        "Error(",
        "panicked",
        "RUST_BACKTRACE",
    ] {
        assert!(!err.contains(debug), "Debug output: {err}");
    }
}

fn sys_retained_count(m: &Mosquitto) -> Option<u64> {
    let out = m.sub_cmd(&[
        "-t",
        "$SYS/broker/retained messages/count",
        "-C",
        "1",
        "-W",
        "3",
    ]);
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn a_broker_killed_during_list_is_one_clear_error_and_exit_1() {
    // Read-only for anonymous clients: the probe never comes back, so `list` is still
    // inside its snapshot (bounded by --wait 30s) when the broker dies.
    let mut m = Mosquitto::with(|port, dir| {
        let acl = write(dir, "acl", "topic read #\ntopic read $SYS/#\n");
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
            acl.display()
        )
    });
    let list = spawn(&[
        "list",
        "-b",
        &m.url(),
        "--client-id",
        "doomed-list",
        "--wait",
        "30s",
    ]);
    wait_for("list to subscribe", Duration::from_secs(10), || {
        (m.log_text()
            .matches("Received SUBSCRIBE from doomed-list")
            .count()
            >= 2)
            .then_some(())
    });
    let killed = Instant::now();
    m.stop();
    let out = finish(list, Duration::from_secs(10));
    let took = killed.elapsed();
    eprintln!("list exited {took:?} after the broker was killed");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    one_clear_line(&err);
    assert!(
        err.starts_with(&format!(
            "mqtt-scan: lost the connection during the snapshot: connection to 127.0.0.1:{} lost",
            m.port
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no table at all: {}", stdout(&out));
    assert!(took < Duration::from_secs(2), "{took:?}");

    // And once it is back, list works again.
    m.restart();
    let doc = list_json(&m.url(), &["--wait", "1s"]);
    assert_eq!(doc["summary"]["total"], 0);
}

#[test]
fn a_connection_cut_mid_snapshot_never_prints_a_partial_table() {
    let m = Mosquitto::start();
    seed(m.port, 20_000, 5);
    // About 30 bytes per status: the cut comes after a few thousand of 20,000.
    let proxy = cutting_proxy(m.port, 100_000);
    let url = format!("127.0.0.1:{proxy}");
    for format in ["table", "json", "jsonl", "csv"] {
        let out = scan(&url, &["list", "--format", format]);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
        let err = stderr(&out);
        one_clear_line(&err);
        assert!(
            err.starts_with("mqtt-scan: lost the connection during the snapshot: "),
            "{err}"
        );
        assert!(
            out.stdout.is_empty(),
            "{format}: a partial table was printed"
        );
    }
    // check: UNKNOWN, the reason on its one stdout line.
    let out = scan(&url, &["check"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout(&out).starts_with("MQTT-SCAN UNKNOWN - lost the connection during the snapshot"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stdout(&out).lines().count(), 1);
    // The whole snapshot, straight to the broker.
    assert_eq!(list_json(&m.url(), &[])["summary"]["total"], 20_000);
}

#[test]
fn a_broker_that_hangs_after_connack_ends_at_wait_and_says_incomplete() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/a", "1");
    // CONNACK is 4 bytes: then nothing (no SUBACK, no retained messages, no probe).
    let proxy = stalling_proxy(m.port, 4);
    let url = format!("127.0.0.1:{proxy}");
    let started = Instant::now();
    let out = scan(&url, &["list", "--json", "--wait", "1500ms"]);
    let took = started.elapsed();
    eprintln!("list against a broker silent after CONNACK ended after {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["complete"], false, "never claimed complete");
    assert!(stderr(&out).starts_with("mqtt-scan: warning: the snapshot may be incomplete"));
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(4));

    let started = Instant::now();
    let out = scan(&url, &["check", "--wait", "1s"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("MQTT-SCAN UNKNOWN - "),
        "{}",
        stdout(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn a_silent_broker_fails_list_and_check_within_the_connect_timeout() {
    // Accepts TCP, never answers CONNECT.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("127.0.0.1:{}", silent.local_addr().unwrap().port());
    for (cmd, code) in [("list", 1), ("check", 3), ("prune", 1), ("watch", 1)] {
        let started = Instant::now();
        let out = scan(&url, &[cmd, "--connect-timeout", "1s"]);
        let took = started.elapsed();
        eprintln!("{cmd} against a silent broker: exit after {took:?}");
        assert_eq!(out.status.code(), Some(code), "{cmd}");
        assert!(took < Duration::from_secs(3), "{cmd}: {took:?}");
        let text = if cmd == "check" {
            stdout(&out)
        } else {
            stderr(&out)
        };
        assert!(
            text.contains("accepted the connection but sent no CONNACK"),
            "{cmd}: {text}"
        );
        assert!(text.contains("within 1s"), "{cmd}: {text}");
        assert_eq!(text.lines().count(), 1, "{cmd}: {text}");
    }
    drop(silent);
}

/// The last `to` of every change event, by name ("removed" rows dropped).
fn final_states(events: &[serde_json::Value]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for e in events.iter().filter(|e| e["event"] == "change") {
        let name = e["name"].as_str().unwrap().to_owned();
        let to = e["to"].as_str().unwrap().to_owned();
        if to == "removed" {
            out.remove(&name);
        } else {
            out.insert(name, to);
        }
    }
    out
}

#[test]
fn watch_survives_a_broker_kill_and_ends_with_every_retained_final_state() {
    let mut m = persistent_broker();
    for (name, payload) in [
        ("stays", "1"),
        ("drops", "1"),
        ("wakes", "0"),
        ("goes", "1"),
    ] {
        m.retain(&format!("sensors/connected/{name}"), payload);
    }
    // Saved on every change: wait until the last one is in the file.
    let db = m.dir.path().join("mosquitto.db");
    wait_for("the broker to save", Duration::from_secs(10), || {
        std::fs::read(&db)
            .ok()
            .filter(|b| b.windows(22).any(|w| w == b"sensors/connected/goes"))
            .map(|_| ())
    });
    let gate = Gate::new(m.port);
    let w = Watch::start(&gate.url(), &[]);
    for name in ["stays", "drops", "wakes", "goes"] {
        w.wait_event("the snapshot", |e| {
            e["event"] == "change" && e["name"] == name
        });
    }

    // The broker dies; while the watcher cannot reach it, it comes back and the fleet
    // changes: these changes reach the watcher only through the re-sync.
    gate.set_open(false);
    m.stop();
    w.wait_event("a disconnect event", |e| {
        e["event"] == "broker" && e["state"] == "disconnected"
    });
    m.restart();
    m.retain("sensors/connected/drops", "0");
    m.retain("sensors/connected/wakes", "1");
    m.clear("sensors/connected/goes");
    m.retain("sensors/connected/born", "1");
    m.retain("sensors/connected/flap", "0");
    m.retain("sensors/connected/flap", "1");
    assert!(
        !w.events()
            .iter()
            .any(|e| e["event"] == "broker" && e["state"] == "connected"),
        "the gate kept the watcher away"
    );
    let reopened = Instant::now();
    gate.set_open(true);
    w.wait_event("a reconnect event", |e| {
        e["event"] == "broker" && e["state"] == "connected"
    });
    let truth = list_states(&m.url());
    assert_eq!(
        truth,
        [
            ("born", "online"),
            ("drops", "offline"),
            ("flap", "online"),
            ("stays", "online"),
            ("wakes", "online"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect(),
        "the broker kept what it saved and took the new changes"
    );
    wait_for("the re-sync", Duration::from_secs(20), || {
        (final_states(&w.events()) == truth).then_some(())
    });
    eprintln!(
        "watch re-synced {:?} after the broker became reachable",
        reopened.elapsed()
    );
    let events = w.events();
    let gone = events
        .iter()
        .find(|e| e["name"] == "goes" && e["to"] == "removed")
        .unwrap();
    // Swept by the re-sync: no message is behind it, as none is behind a live clear.
    assert_eq!(gone["retained"], false);

    // Live changes flow again.
    m.retain("sensors/connected/stays", "0");
    w.wait_event("a live change after the re-sync", |e| {
        is_change(e, "stays", "offline") && e["retained"] == false
    });
}

#[test]
fn watch_text_events_through_repeated_restarts_end_right() {
    let mut m = persistent_broker();
    let w = Watch::start_format(&m.url(), "text", &[]);
    wait_for("the watcher to subscribe", Duration::from_secs(10), || {
        m.log_text().contains("sensors/connected/#").then_some(())
    });
    for round in 0..3 {
        let payload = if round % 2 == 0 { "1" } else { "0" };
        m.restart();
        m.retain("sensors/connected/cycler", payload);
        let want = if payload == "1" { "online" } else { "offline" };
        wait_for(
            "the state after the restart",
            Duration::from_secs(20),
            || {
                w.lines()
                    .iter()
                    .rev()
                    .find(|l| l.contains(" cycler "))
                    .filter(|l| l.contains(&format!("-> {want} ")))
                    .map(|_| ())
            },
        );
    }
    for line in w.lines() {
        assert!(
            !line.chars().any(char::is_control),
            "one clean line per event: {line:?}"
        );
    }
}

#[test]
fn announce_after_a_broker_restart_is_online_again_and_its_will_still_fires() {
    let mut m = Mosquitto::start();
    let mut a = spawn(&["announce", "-b", &m.url(), "phoenix"]);
    let online =
        |m: &Mosquitto| client(&list_json(&m.url(), &[]), "phoenix").map(|c| c["state"].clone());
    wait_for("online", Duration::from_secs(10), || {
        (online(&m) == Some("online".into())).then_some(())
    });
    m.restart();
    // A fresh broker knows nothing: only announce's re-publish can put the row back.
    let restarted = Instant::now();
    wait_for("online after the restart", Duration::from_secs(20), || {
        (online(&m) == Some("online".into())).then_some(())
    });
    eprintln!(
        "announce online again {:?} after the restart",
        restarted.elapsed()
    );
    // The Will was registered again with the new connection: a crash shows.
    a.kill().unwrap();
    a.wait().unwrap();
    wait_for("the Will", Duration::from_secs(10), || {
        (online(&m) == Some("offline".into())).then_some(())
    });
}

#[test]
fn a_hundred_thousand_statuses_at_qos1_are_all_listed() {
    let m = Mosquitto::start();
    let started = Instant::now();
    let offline = seed(m.port, 100_000, 9);
    eprintln!(
        "seeded 100,000 retained statuses at QoS 1 in {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let out = scan(&m.url(), &["list", "--format", "json"]);
    let took = started.elapsed();
    eprintln!("list --format json of 100,000: {took:?}");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no warning");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["complete"], true);
    assert_eq!(doc["summary"]["total"], 100_000);
    assert_eq!(doc["summary"]["offline"], offline);
    assert_eq!(doc["summary"]["online"], 100_000 - offline);
    assert_eq!(doc["clients"].as_array().unwrap().len(), 100_000);
    assert!(took < Duration::from_secs(20), "{took:?}");
}

/// A broker that publishes its `$SYS` tree every second, so its retained count is fresh.
fn counting_broker() -> Mosquitto {
    Mosquitto::with(|port, _| {
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 1\n")
    })
}

#[test]
fn retained_messages_lost_on_the_way_are_a_warning_with_a_hash_filter() {
    let m = counting_broker();
    seed(m.port, 2_000, 4);
    wait_for("the broker's count", Duration::from_secs(10), || {
        sys_retained_count(&m).filter(|&n| n > 2_000)
    });
    // Straight to the broker: everything arrives, no warning.
    let out = scan(&m.url(), &["list", "--json", "-t", "#"]);
    assert_eq!(stderr(&out), "");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["total"], 2_000);
    assert_eq!(doc["complete"], true);

    // Every 100th retained message dropped on the way.
    let proxy = dropping_proxy(m.port, 100);
    let out = scan(
        &format!("127.0.0.1:{proxy}"),
        &["list", "--json", "-t", "#"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["total"], 1_980);
    assert_eq!(doc["complete"], false, "a known shortfall is not complete");
    assert_eq!(
        stderr(&out),
        "mqtt-scan: warning: the snapshot is incomplete: the broker holds 2000 retained messages outside $SYS but only 1980 arrived (messages dropped on the way: check the broker's queue limits, or a proxy)\n"
    );
    // The table says so too, on stderr only.
    let out = scan(&format!("127.0.0.1:{proxy}"), &["list", "-t", "#"]);
    assert!(stderr(&out).starts_with("mqtt-scan: warning: the snapshot is incomplete"));
    assert!(
        stdout(&out)
            .lines()
            .last()
            .unwrap()
            .starts_with("1980 clients: "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn no_false_retained_count_warning_with_other_retained_topics() {
    let m = counting_broker();
    seed(m.port, 300, 3);
    for i in 0..50 {
        m.retain(&format!("home/light{i}/config"), "{\"x\":1}");
    }
    m.retain("$CONNECTED/dollar", "1");
    wait_for("the broker's count", Duration::from_secs(10), || {
        sys_retained_count(&m).filter(|&n| n > 351)
    });
    // The default filter sees 300 of the 351 non-$SYS retained messages: no verdict.
    let out = scan(&m.url(), &["list", "--json"]);
    assert_eq!(stderr(&out), "");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["total"], 300);
    assert_eq!(doc["complete"], true);
    // Through the lossy proxy as well: with a narrow filter the count proves nothing.
    let proxy = dropping_proxy(m.port, 100);
    let out = scan(&format!("127.0.0.1:{proxy}"), &["list", "--json"]);
    assert_eq!(stderr(&out), "");
    // `#` with a `$` topic named as well: everything is accounted for.
    let out = scan(
        &m.url(),
        &["list", "--json", "-t", "#", "-t", "$CONNECTED/#"],
    );
    assert_eq!(stderr(&out), "");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["total"], 351);
    assert_eq!(doc["complete"], true);
}
