//! `mqtt-scan serve` against a real mosquitto (and a real Prometheus): the API documents
//! are `list`'s, the event stream is `watch`'s, readiness follows the broker, Prometheus
//! scrapes it.

mod common;
#[path = "support/serve.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use support::*;

/// The document with the times that differ between two processes (when each received the
/// statuses, when each answered) blanked; everything else byte for byte.
fn untimed(doc: &str) -> String {
    doc.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("\"scanned_at\": ") || t.starts_with("\"last_seen\": ") {
                let (key, _) = l.split_once(": ").unwrap();
                format!("{key}: T,")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn fleet(m: &Mosquitto) {
    m.retain("sensors/connected/sensor1", "1");
    m.retain("sensors/connected/sensor10", "0");
    m.retain(
        "sensors/connected/sensor2",
        r#"{"status":1,"ts":1795255201,"ip":"10.0.0.2","client":"s2"}"#,
    );
    m.retain("sensors/connected/plant/edge", "online");
    m.retain("sensors/connected/we ird\"one", "maybe?");
}

#[test]
fn api_clients_is_the_list_document_and_a_client_has_its_row_and_transitions() {
    let m = Mosquitto::start();
    fleet(&m);
    let s = Serve::start(&m.url(), &[]);
    s.wait_ready();

    for (query, flags) in [
        ("", &[][..]),
        (
            "?sort=state&only=online",
            &["--sort", "state", "--only", "online"][..],
        ),
    ] {
        let served = s.get(&format!("/api/clients{query}"));
        assert_eq!(served.status, 200);
        assert_eq!(served.header("content-type"), Some("application/json"));
        let mut args = vec!["list", "--format", "json"];
        args.extend_from_slice(flags);
        let listed = scan(&m.url(), &args);
        assert!(listed.status.success(), "{}", stderr(&listed));
        assert_eq!(untimed(&served.body), untimed(&stdout(&listed)), "{query}");
        assert!(served.body.contains("\"complete\": true"));
    }

    let (_, doc) = s.json("/api/clients");
    for (path, name) in [
        ("/api/clients/sensor2", "sensor2"),
        ("/api/clients/plant/edge", "plant/edge"),
        ("/api/clients/we%20ird%22one", "we ird\"one"),
    ] {
        let (status, one) = s.json(path);
        assert_eq!(status, 200, "{path}: {one}");
        assert_eq!(&one["client"], client(&doc, name).unwrap(), "{path}");
        let t = one["transitions"].as_array().unwrap();
        assert_eq!(t.len(), 1, "the first sighting: {one}");
        assert_eq!(
            (t[0]["from"].is_null(), t[0]["retained"].as_bool()),
            (true, Some(true))
        );
    }

    // A client goes offline: its row follows, and the transition is recorded.
    m.pub_cmd(&["-q", "1", "-t", "sensors/connected/sensor1", "-m", "0"]);
    let one = wait_for("sensor1 offline", Duration::from_secs(10), || {
        let (_, one) = s.json("/api/clients/sensor1");
        (one["client"]["state"] == "offline").then_some(one)
    });
    let t = one["transitions"].as_array().unwrap();
    assert_eq!(t.len(), 2, "{one}");
    assert_eq!(
        (
            t[1]["event"].as_str(),
            t[1]["from"].as_str(),
            t[1]["to"].as_str()
        ),
        (Some("change"), Some("online"), Some("offline"))
    );
    assert_eq!(one["client"]["changes"], 1);

    let (status, err) = s.json("/api/clients/nobody");
    assert_eq!(status, 404);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("no client named \"nobody\""),
        "{err}"
    );
    let (status, err) = s.json("/api/clients?sort=size");
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("name, state, since"),
        "{err}"
    );
    let (status, err) = s.json("/nothing/here");
    assert_eq!(status, 404);
    assert!(
        err["error"].as_str().unwrap().contains("/api/clients"),
        "{err}"
    );
}

#[test]
fn presets_and_a_persistent_session_serve_like_list() {
    let m = Mosquitto::start();
    m.retain("tele/plug-1/LWT", "Online");
    m.retain("tele/plug-2/LWT", "Offline");
    let s = Serve::start(
        &m.url(),
        &["--preset", "tasmota", "--session", "serve-test"],
    );
    s.wait_ready();
    let served = s.get("/api/clients").body;
    let listed = scan(
        &m.url(),
        &["list", "--preset", "tasmota", "--format", "json"],
    );
    assert_eq!(untimed(&served), untimed(&stdout(&listed)));
    let metrics = s.get("/metrics").body;
    for line in [
        "mqtt_scan_client_up{client=\"plug-1\",source=\"tasmota\"} 1",
        "mqtt_scan_client_up{client=\"plug-2\",source=\"tasmota\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    // The session's live side carries a change.
    m.retain("tele/plug-2/LWT", "Online");
    wait_for("plug-2 online", Duration::from_secs(10), || {
        (s.json("/api/clients/plug-2").1["client"]["state"] == "online").then_some(())
    });
}

#[test]
fn the_event_stream_is_watchs_and_shows_a_killed_client_going_offline() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/a-old", "0");
    let mut device = will_client(&m, "dev-will");
    m.retain("sensors/connected/dev-will", "1");
    let s = Serve::start(&m.url(), &[]);
    let early = Sse::open(s.port);
    s.wait_ready();
    let w = Watch::start(&m.url(), &[]);
    w.wait_event("watch's snapshot", |e| is_change(e, "dev-will", "online"));
    let late = Sse::open(s.port);
    assert_eq!(early.status, 200);
    assert!(
        early.head.contains("content-type: text/event-stream"),
        "{}",
        early.head
    );

    device.kill().unwrap();
    device.wait().unwrap();
    w.wait_event("watch sees the Will", |e| {
        is_change(e, "dev-will", "offline")
    });
    let without_time = |mut e: serde_json::Value| {
        e.as_object_mut().unwrap().remove("time");
        e
    };
    let expected: Vec<serde_json::Value> = w.events().into_iter().map(without_time).collect();
    // A reader from before the snapshot and one from after it see what watch printed: the
    // snapshot (as first sightings, by name), then the change.
    for (what, sse) in [("early", &early), ("late", &late)] {
        let seen = wait_for(what, Duration::from_secs(10), || {
            let got: Vec<_> = sse.messages().into_iter().map(without_time).collect();
            (got.len() >= expected.len()).then_some(got)
        });
        assert_eq!(seen, expected, "{what}");
    }
    assert!(early.events().iter().all(|e| e.event == "message"));
}

#[test]
fn a_reader_too_slow_for_the_stream_is_told_it_lost_events() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/flappy", "1");
    let s = Serve::start(&m.url(), &[]);
    s.wait_ready();
    let mut slow = Sse::open_unread(s.port);
    // 300,000 state changes, one a message: far more than the socket buffers and the
    // stream's buffer of batches hold while the reader reads nothing.
    let n = 300_000;
    let mut publisher = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &m.port.to_string()])
        .args(["-t", "sensors/connected/flappy", "-l"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = publisher.stdin.take().unwrap();
        let mut lines: String = (0..n)
            .map(|i| if i % 2 == 0 { "0\n" } else { "1\n" })
            .collect();
        // The flood's last word, on the same connection: once it is in the table, serve
        // has folded everything before it.
        lines.push_str("flood-end\n");
        stdin.write_all(lines.as_bytes()).unwrap();
    }
    assert!(publisher.wait().unwrap().success());
    wait_for("serve to fold the flood", Duration::from_secs(60), || {
        let (_, one) = s.json("/api/clients/flappy");
        (one["client"]["payload"] == "flood-end").then_some(())
    });
    let (_, row) = s.json("/api/clients/flappy");
    assert_eq!(row["client"]["state"], "unknown");
    assert!(row["client"]["changes"].as_u64().unwrap() > 10_000, "{row}");
    slow.read_in_background();
    let lagged = wait_for("the lagged event", Duration::from_secs(60), || {
        slow.with_events(|events| events.iter().find(|e| e.event == "lagged").cloned())
    });
    let info: serde_json::Value = serde_json::from_str(&lagged.data).unwrap();
    assert_eq!(info["event"], "lagged");
    assert!(info["missed"].as_u64().unwrap() > 0, "{info}");
    // The stream goes on after it: a change made now (the only one from unknown) arrives.
    m.pub_cmd(&["-q", "1", "-t", "sensors/connected/flappy", "-m", "1"]);
    wait_for("a change after the lag", Duration::from_secs(60), || {
        slow.with_events(|events| {
            let at = events.iter().position(|e| e.event == "lagged")?;
            events[at..]
                .iter()
                .any(|e| {
                    e.event == "message"
                        && e.data.contains("\"from\":\"unknown\",\"to\":\"online\"")
                })
                .then_some(())
        })
    });
    let metrics = s.get("/metrics").body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mqtt_scan_sse_lagged_events_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
}

#[test]
fn readyz_waits_for_the_snapshot_and_follows_the_broker() {
    // The statuses survive the broker's restart: the re-sync changes nothing, and readiness
    // must come back all the same.
    let mut m = persistent_broker();
    m.retain("sensors/connected/sensor1", "1");
    // The broker's CONNACK held back 2 s on every connection: serve is up, not ready.
    let proxy = delaying_proxy(m.port, Duration::from_secs(2));
    let s = Serve::start(&format!("mqtt://127.0.0.1:{proxy}"), &[]);
    assert_eq!(s.get("/healthz").status, 200);
    let (status, r) = s.json("/readyz");
    assert_eq!(status, 503, "{r}");
    assert_eq!(r["ready"], false);
    assert!(r["reason"].as_str().unwrap().contains("connecting"), "{r}");
    let (_, doc) = s.json("/api/clients");
    assert_eq!(
        (doc["complete"].as_bool(), doc["summary"]["total"].as_u64()),
        (Some(false), Some(0))
    );
    s.wait_ready();
    assert_eq!(s.json("/readyz").1["reason"], "connected, snapshot done");

    m.stop();
    let r = wait_for(
        "readyz 503 after the broker died",
        Duration::from_secs(20),
        || {
            let (status, r) = s.json("/readyz");
            (status == 503).then_some(r)
        },
    );
    assert!(
        r["reason"].as_str().unwrap().contains("disconnected from"),
        "{r}"
    );
    assert_eq!(s.get("/healthz").status, 200, "the process is still up");
    let (_, doc) = s.json("/api/clients");
    assert_eq!(doc["complete"], false, "the table may be out of date");
    assert!(s.get("/metrics").body.contains("\nmqtt_scan_broker_up 0\n"));

    m.restart();
    s.wait_ready();
    assert!(s.get("/metrics").body.contains("\nmqtt_scan_broker_up 1\n"));
    assert_eq!(s.json("/api/clients").1["complete"], true);
}

#[test]
fn readyz_is_503_while_the_first_snapshot_is_under_way() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    // The CONNACK (4 bytes) passes, then the broker goes silent: connected, no snapshot.
    let proxy = stalling_proxy(m.port, 4);
    let s = Serve::start(&format!("mqtt://127.0.0.1:{proxy}"), &["--wait", "60s"]);
    let r = wait_for("the snapshot phase", Duration::from_secs(10), || {
        let (status, r) = s.json("/readyz");
        assert_eq!(status, 503, "{r}");
        (r["reason"] == "waiting for the first retained snapshot").then_some(r)
    });
    assert_eq!(r["ready"], false);
    let (_, doc) = s.json("/api/clients");
    assert_eq!(doc["complete"], false);
    assert!(s.get("/metrics").body.contains("\nmqtt_scan_broker_up 1\n"));
}

#[test]
fn sigterm_and_ctrl_c_end_it_cleanly_even_with_a_stream_open() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    for sig in ["TERM", "INT"] {
        let mut s = Serve::start(&m.url(), &[]);
        s.wait_ready();
        let sse = Sse::open(s.port);
        wait_for("the stream's first event", Duration::from_secs(10), || {
            (!sse.events().is_empty()).then_some(())
        });
        let status = s.signal(sig);
        assert_eq!(status.code(), Some(0), "SIG{sig}: {:?}", s.errors());
        wait_for("the stream to end", Duration::from_secs(5), || {
            sse.ended().then_some(())
        });
    }
    // While still connecting (the CONNACK held back) too.
    let proxy = delaying_proxy(m.port, Duration::from_secs(30));
    let mut s = Serve::start(&format!("mqtt://127.0.0.1:{proxy}"), &[]);
    assert_eq!(s.get("/readyz").status, 503);
    assert_eq!(s.signal("TERM").code(), Some(0), "{:?}", s.errors());
}

#[test]
fn an_address_in_use_is_one_clear_error() {
    let m = Mosquitto::start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = scan(&m.url(), &["serve", "--no-db", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("mqtt-scan: cannot listen on {addr}: ")),
        "{err}"
    );
    assert!(err.contains("--listen"), "{err}");
}

/// Prometheus' tools: present, or (outside CI) the test is skipped with how to get them.
fn prometheus_tool(name: &str) -> Option<std::path::PathBuf> {
    let found = ["/usr/bin", "/usr/local/bin", "/usr/sbin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is missing in CI (.ci/run installs Debian's prometheus package)"
        );
        eprintln!("skipped: {name} is not installed (apt-get install -y prometheus)");
    }
    found
}

#[test]
fn promtool_check_metrics_passes_and_the_cap_holds() {
    let Some(promtool) = prometheus_tool("promtool") else {
        return;
    };
    let m = Mosquitto::start();
    fleet(&m);
    let s = Serve::start(&m.url(), &["--metrics-max-clients", "3"]);
    s.wait_ready();
    let text = s.get("/metrics");
    assert_eq!(text.status, 200);
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.body.as_bytes())
            .unwrap();
    }
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        text.body
    );
    let ups = text
        .body
        .lines()
        .filter(|l| l.starts_with("mqtt_scan_client_up{"))
        .count();
    assert_eq!(ups, 3, "{}", text.body);
    assert!(
        text.body.contains("\nmqtt_scan_client_series_dropped 2\n"),
        "{}",
        text.body
    );
    assert!(
        text.body
            .contains("\nmqtt_scan_clients{state=\"online\"} 3\n"),
        "{}",
        text.body
    );
    let open = get(
        s.port,
        "/metrics",
        &[("Accept", "application/openmetrics-text;version=1.0.0")],
    );
    assert!(open
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(open.body.ends_with("# EOF\n"));
}

#[test]
fn a_real_prometheus_scrapes_each_clients_up_value() {
    let Some(prometheus) = prometheus_tool("prometheus") else {
        return;
    };
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    m.retain("sensors/connected/sensor2", "0");
    m.retain("sensors/connected/we\"ird\\name", "1");
    let s = Serve::start(&m.url(), &[]);
    s.wait_ready();

    let prom = Prometheus::start(&prometheus, s.port);
    let query = |q: &str| prom.query(q);
    let mut ups = wait_for("Prometheus' first scrape", Duration::from_secs(60), || {
        query("mqtt_scan_client_up").filter(|r| r.len() == 3)
    });
    ups.sort();
    assert_eq!(
        ups,
        [
            ("sensor1".to_owned(), "1".to_owned()),
            ("sensor2".to_owned(), "0".to_owned()),
            ("we\"ird\\name".to_owned(), "1".to_owned()),
        ]
    );
    let target_up = query("up{job=\"mqtt-scan\"}").unwrap();
    assert_eq!(target_up[0].1, "1");

    // sensor2 comes online: the next scrapes say so.
    m.retain("sensors/connected/sensor2", "1");
    wait_for("sensor2 up in Prometheus", Duration::from_secs(30), || {
        query("mqtt_scan_client_up{client=\"sensor2\"}")
            .filter(|r| r.first().is_some_and(|(_, v)| v == "1"))
    });
    let totals = wait_for("the totals", Duration::from_secs(30), || {
        query("sum(mqtt_scan_clients{state=\"online\"})")
            .filter(|r| r.first().is_some_and(|(_, v)| v == "3"))
    });
    assert_eq!(totals.len(), 1);

    // The README's PromQL examples are queries Prometheus accepts.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("```promql\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let examples: Vec<&str> = block
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert!(examples.len() >= 4, "{block}");
    for q in examples {
        assert!(query(q).is_some(), "Prometheus refused the README's {q}");
    }
}

#[test]
fn api_clients_follows_every_update_of_a_row_even_without_a_state_change() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/steady", "1");
    m.retain("sensors/connected/other", "0");
    let s = Serve::start(&m.url(), &["--no-db"]);
    s.wait_ready();
    // Rendered once (and kept), for both orders.
    let (_, first) = s.json("/api/clients");
    let _ = s.json("/api/clients?sort=state");
    assert_eq!(client(&first, "steady").unwrap()["payload"], "1");
    // Same state, another payload: no change line, but the row is not the same.
    m.retain("sensors/connected/steady", "online");
    wait_for("the new payload served", Duration::from_secs(10), || {
        let (_, doc) = s.json("/api/clients");
        (client(&doc, "steady")?["payload"] == "online").then_some(())
    });
    let (_, by_state) = s.json("/api/clients?sort=state");
    assert_eq!(client(&by_state, "steady").unwrap()["payload"], "online");
    assert_eq!(client(&by_state, "other").unwrap()["payload"], "0");
    // And it is still list's document.
    let listed = list_json(&m.url(), &[]);
    assert_eq!(
        client(&listed, "steady").unwrap()["detail"],
        client(&s.json("/api/clients").1, "steady").unwrap()["detail"]
    );
}
