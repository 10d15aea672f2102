//! `mqtt-scan announce` and the rumqttc example, against a real mosquitto: what a status
//! client must do, checked from outside with `list` and the broker's own log.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn announce(broker: &str, args: &[&str]) -> Child {
    // The broker first: everything after `--` belongs to the wrapped command.
    Command::new(BIN)
        .args(["announce", "-b", broker])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The state `list` reports for `name` (None: no row).
fn state(broker: &str, name: &str, extra: &[&str]) -> Option<String> {
    let doc = list_json(broker, extra);
    client(&doc, name).map(|c| c["state"].as_str().unwrap().to_owned())
}

fn wait_state(broker: &str, name: &str, want: &str, extra: &[&str]) -> Instant {
    wait_for(&format!("{name} {want}"), Duration::from_secs(15), || {
        (state(broker, name, extra).as_deref() == Some(want)).then(Instant::now)
    })
}

fn signal(child: &Child, sig: &str) {
    assert!(Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    wait_for("the process to exit", Duration::from_secs(15), || {
        child.try_wait().unwrap()
    })
}

#[test]
fn online_then_sigterm_publishes_offline_cleanly_and_exits_0() {
    let m = Mosquitto::start();
    let mut a = announce(&m.url(), &["dev1"]);
    wait_state(&m.url(), "dev1", "online", &[]);
    signal(&a, "TERM");
    let status = wait_exit(&mut a);
    assert_eq!(status.code(), Some(0));
    let doc = list_json(&m.url(), &[]);
    let row = client(&doc, "dev1").unwrap();
    assert_eq!(
        (
            row["state"].as_str(),
            row["payload"].as_str(),
            row["retained"].as_bool()
        ),
        (Some("offline"), Some("0"), Some(true))
    );
    assert!(
        m.log_text().contains("Received DISCONNECT from"),
        "a clean DISCONNECT"
    );
    assert!(
        !m.log_text().contains("Sending will"),
        "the Will did not fire"
    );
}

#[test]
fn kill_9_leaves_the_will_to_mark_it_offline_within_one_and_a_half_keepalives() {
    let m = Mosquitto::start();
    let mut a = announce(&m.url(), &["dev2", "--keepalive", "4"]);
    wait_state(&m.url(), "dev2", "online", &[]);
    let killed = Instant::now();
    a.kill().unwrap();
    a.wait().unwrap();
    let offline_at = wait_state(&m.url(), "dev2", "offline", &[]);
    assert!(
        offline_at - killed < Duration::from_secs(6),
        "took {:?}",
        offline_at - killed
    );
    let doc = list_json(&m.url(), &[]);
    assert_eq!(
        client(&doc, "dev2").unwrap()["payload"],
        "0",
        "the Will's payload"
    );
}

#[test]
fn a_wrapped_command_runs_online_and_its_exit_status_passes_through() {
    let m = Mosquitto::start();
    let url = m.url();
    // The command looks at its own status while it runs, then exits 3.
    let script = format!(
        "mosquitto_sub -h 127.0.0.1 -p {} -t sensors/connected/job -C 1; echo stdout-passes; exit 3",
        m.port
    );
    let out = Command::new(BIN)
        .args(["announce", "job", "-b", &url, "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stdout(&out),
        "1\nstdout-passes\n",
        "online while it ran; stdout passed through"
    );
    assert_eq!(state(&url, "job", &[]).as_deref(), Some("offline"));
}

#[test]
fn signals_pass_to_the_command_and_a_killed_command_is_128_plus_signal() {
    let m = Mosquitto::start();
    let mut a = announce(
        &m.url(),
        &[
            "svc",
            "--",
            "sh",
            "-c",
            "trap 'exit 7' TERM; while :; do sleep 0.1; done",
        ],
    );
    wait_state(&m.url(), "svc", "online", &[]);
    signal(&a, "TERM");
    assert_eq!(
        wait_exit(&mut a).code(),
        Some(7),
        "the command decided its exit"
    );
    assert_eq!(state(&m.url(), "svc", &[]).as_deref(), Some("offline"));

    let out = Command::new(BIN)
        .args([
            "announce",
            "doomed",
            "-b",
            &m.url(),
            "--",
            "sh",
            "-c",
            "kill -9 $$",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
}

#[test]
fn a_command_that_cannot_start_is_127() {
    let m = Mosquitto::start();
    for (name, program, why) in [
        ("ghost", "/nonexistent/program", "no such file"),
        (
            "ghost2",
            "no-such-program-mqtt-scan",
            "command not found on PATH",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["announce", name, "-b", &m.url(), "--", program, "arg"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127), "{program}");
        assert_eq!(
            stderr(&out),
            format!("mqtt-scan: cannot run '{program}': {why}\n")
        );
        // Found missing before connecting: never announced online, so no status at all.
        assert_eq!(state(&m.url(), name, &[]), None, "{program}");
    }
}

#[test]
fn json_payloads_carry_status_time_address_and_name() {
    let m = Mosquitto::start();
    let mut a = announce(&m.url(), &["jdev", "--payload", "json"]);
    wait_state(&m.url(), "jdev", "online", &[]);
    let raw = m.sub_cmd(&["-t", "sensors/connected/jdev", "-C", "1"]);
    let text = String::from_utf8_lossy(&raw.stdout).trim().to_owned();
    assert!(
        text.starts_with("{\"status\":1,\"ts\":"),
        "field order as in the SPEC: {text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now - v["ts"].as_i64().unwrap()).abs() < 60);
    assert_eq!(
        v["ip"], "127.0.0.1",
        "the local address used to reach the broker"
    );
    assert_eq!(v["client"], "jdev");
    signal(&a, "INT");
    assert_eq!(wait_exit(&mut a).code(), Some(0));
    let doc = list_json(&m.url(), &[]);
    let row = client(&doc, "jdev").unwrap();
    assert_eq!(
        (row["state"].as_str(), row["payload"]["status"].as_i64()),
        (Some("offline"), Some(0))
    );
    assert_eq!(row["payload"]["client"], "jdev");
}

#[test]
fn a_custom_topic_template_and_payloads() {
    let m = Mosquitto::start();
    let mut a = announce(
        &m.url(),
        &[
            "lamp",
            "--topic-template",
            "home/{name}/status",
            "--online-payload",
            "ready",
            "--offline-payload",
            "gone",
        ],
    );
    wait_state(&m.url(), "lamp", "online", &["-t", "home/+/status"]);
    signal(&a, "TERM");
    assert_eq!(wait_exit(&mut a).code(), Some(0));
    let doc = list_json(
        &m.url(),
        &["-t", "home/{name}/status", "--offline-values", "gone"],
    );
    let row = client(&doc, "lamp").unwrap();
    assert_eq!(
        (row["state"].as_str(), row["topic"].as_str()),
        (Some("offline"), Some("home/lamp/status"))
    );
}

#[test]
fn a_broker_restart_gets_the_online_status_again() {
    let mut m = Mosquitto::start();
    let mut a = announce(&m.url(), &["phoenix"]);
    wait_state(&m.url(), "phoenix", "online", &[]);
    // Without persistence the restarted broker remembers nothing: only a new publish helps.
    m.restart();
    wait_state(&m.url(), "phoenix", "online", &[]);
    signal(&a, "TERM");
    assert_eq!(wait_exit(&mut a).code(), Some(0));
}

#[test]
fn an_unreachable_broker_is_exit_1_and_nothing_runs() {
    let port = free_port();
    let out = Command::new(BIN)
        .args([
            "announce",
            "x",
            "-b",
            &format!("127.0.0.1:{port}"),
            "--",
            "touch",
            "/tmp/mqtt-scan-should-not-exist",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("mqtt-scan: connection refused"),
        "{}",
        stderr(&out)
    );
    assert!(!std::path::Path::new("/tmp/mqtt-scan-should-not-exist").exists());
}

/// The example's binary, built if this test run did not build examples.
fn example(name: &str) -> PathBuf {
    let path = PathBuf::from(BIN)
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example {name}");
    }
    path
}

#[test]
fn sigterm_before_the_connack_never_leaves_the_client_online() {
    let m = Mosquitto::start();
    let proxy = delaying_proxy(m.port, Duration::from_millis(1500));
    let via_proxy = format!("127.0.0.1:{proxy}");
    let sensor = example("sensor");
    // (row name, client id, how to start it)
    let announce_it = || {
        announce(
            &via_proxy,
            &["early-announce", "--client-id", "early-announce"],
        )
    };
    let sensor_it = || {
        Command::new(&sensor)
            .args(["127.0.0.1", &proxy.to_string(), "early-sensor"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let clients: [(&str, &str, &dyn Fn() -> Child); 2] = [
        ("early-announce", "early-announce", &announce_it),
        ("early-sensor", "sensor-early-sensor", &sensor_it),
    ];
    for (name, client_id, start) in clients {
        let mut child = start();
        // The broker has the CONNECT; the proxy still holds the CONNACK back.
        wait_for("the CONNECT at the broker", Duration::from_secs(10), || {
            m.log_text()
                .contains(&format!("as {client_id}"))
                .then_some(())
        });
        signal(&child, "TERM");
        assert!(wait_exit(&mut child).success(), "{name}");
        wait_for(
            "the broker to see the client go",
            Duration::from_secs(10),
            || {
                let log = m.log_text();
                (log.contains(&format!("Client {client_id} disconnected"))
                    || log.contains(&format!("Client {client_id} closed its connection")))
                .then_some(())
            },
        );
        assert_ne!(
            state(&m.url(), name, &[]).as_deref(),
            Some("online"),
            "{name} must not stay online"
        );
    }
}

#[test]
fn the_rumqttc_example_follows_the_convention() {
    let m = Mosquitto::start();
    let sensor = example("sensor");
    assert!(
        sensor.exists(),
        "cargo test builds the examples: {}",
        sensor.display()
    );
    let run = || {
        Command::new(&sensor)
            .args(["127.0.0.1", &m.port.to_string(), "example-sensor"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut clean = run();
    wait_state(&m.url(), "example-sensor", "online", &[]);
    signal(&clean, "TERM");
    assert_eq!(wait_exit(&mut clean).code(), Some(0));
    assert_eq!(
        state(&m.url(), "example-sensor", &[]).as_deref(),
        Some("offline")
    );
    assert!(m
        .log_text()
        .contains("Received DISCONNECT from sensor-example-sensor"));

    let mut crashed = run();
    wait_state(&m.url(), "example-sensor", "online", &[]);
    crashed.kill().unwrap();
    crashed.wait().unwrap();
    wait_state(&m.url(), "example-sensor", "offline", &[]);
    // Only the broker could have said so: the client was gone.
    assert!(m
        .log_text()
        .contains("Client sensor-example-sensor closed its connection"));
}
