//! `mqtt-scan watch` as an event stream, against a real mosquitto.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn the_snapshot_comes_first_then_a_killed_client_goes_offline_and_a_new_one_comes_online() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/b-old", "0");
    m.retain("sensors/connected/a-old", "1");
    let mut device = will_client(&m, "dev-will");
    m.retain("sensors/connected/dev-will", "1");

    let w = Watch::start(&m.url(), &[]);
    w.wait_event("the snapshot", |e| is_change(e, "dev-will", "online"));
    let first: Vec<serde_json::Value> = w.events().into_iter().take(3).collect();
    let names: Vec<&str> = first.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["a-old", "b-old", "dev-will"],
        "the snapshot, sorted by name"
    );
    assert!(first
        .iter()
        .all(|e| e["from"].is_null() && e["retained"] == true));

    device.kill().unwrap();
    device.wait().unwrap();
    let off = w.wait_event("the Will's offline event", |e| {
        is_change(e, "dev-will", "offline")
    });
    assert_eq!(
        (off["from"].as_str(), off["retained"].as_bool()),
        (Some("online"), Some(false))
    );
    assert_eq!(off["payload"], "0");

    m.retain(
        "sensors/connected/newcomer",
        r#"{"status":"online","ip":"10.9.9.9"}"#,
    );
    let on = w.wait_event("the newcomer's online event", |e| {
        is_change(e, "newcomer", "online")
    });
    assert!(on["from"].is_null());
    assert_eq!(on["payload"]["ip"], "10.9.9.9");

    m.clear("sensors/connected/a-old");
    let gone = w.wait_event("a cleared status", |e| is_change(e, "a-old", "removed"));
    assert_eq!(gone["from"], "online");
}

#[test]
fn the_default_event_format_in_a_pipe_is_text_lines() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/t1", "1");
    let w = Watch::start_format(&m.url(), "text", &[]);
    wait_for("the snapshot line", Duration::from_secs(10), || {
        w.lines()
            .into_iter()
            .find(|l| l.ends_with(" t1 - -> online sensors/connected/t1 (retained=true)"))
    });
    m.retain("sensors/connected/t1", "0");
    let line = wait_for("the change line", Duration::from_secs(10), || {
        w.lines()
            .into_iter()
            .find(|l| l.contains(" t1 online -> offline "))
    });
    assert!(
        line.ends_with("sensors/connected/t1 (retained=false)"),
        "{line}"
    );
    assert_eq!(
        line.as_bytes()[10],
        b'T',
        "starts with an RFC 3339 time: {line}"
    );
}

#[test]
fn a_broker_restart_gives_broker_events_and_later_changes_still_arrive() {
    // Persistence keeps the retained statuses over the restart (saved on every change).
    let m = Mosquitto::with(|port, dir| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\nautosave_on_changes true\n",
            dir.display()
        )
    });
    m.retain("sensors/connected/keeper", "1");
    wait_for("the broker to save", Duration::from_secs(10), || {
        m.dir.path().join("mosquitto.db").exists().then_some(())
    });
    let mut m = m;
    let w = Watch::start(&m.url(), &[]);
    w.wait_event("the snapshot", |e| is_change(e, "keeper", "online"));

    m.restart();
    let down = w.wait_event("a disconnect event", |e| {
        e["event"] == "broker" && e["state"] == "disconnected"
    });
    assert!(
        down["reason"]
            .as_str()
            .unwrap()
            .contains(&m.port.to_string()),
        "{down}"
    );
    w.wait_event("a reconnect event", |e| {
        e["event"] == "broker" && e["state"] == "connected"
    });

    m.retain("sensors/connected/keeper", "0");
    w.wait_event("a change after the reconnect", |e| {
        is_change(e, "keeper", "offline")
    });
    let events = w.events();
    assert!(
        !events.iter().any(|e| e["to"] == "removed"),
        "the re-sync kept what the broker kept"
    );
    assert_eq!(
        events.iter().filter(|e| e["event"] == "broker").count(),
        2,
        "{events:?}"
    );
}

#[test]
fn statuses_gone_from_the_broker_while_away_are_removed_at_the_resync() {
    let mut m = Mosquitto::start();
    m.retain("sensors/connected/ephemeral", "1");
    let w = Watch::start(&m.url(), &[]);
    w.wait_event("the snapshot", |e| is_change(e, "ephemeral", "online"));
    // Without persistence the restarted broker holds nothing.
    m.restart();
    w.wait_event("a reconnect event", |e| {
        e["event"] == "broker" && e["state"] == "connected"
    });
    let gone = w.wait_event("the removal after the re-sync", |e| {
        is_change(e, "ephemeral", "removed")
    });
    // No message is behind a removal the re-sync found: not "retained".
    assert_eq!(gone["retained"], false);
}

#[test]
fn a_session_reports_changes_made_while_the_watcher_was_stopped() {
    for version in ["3.1.1", "5"] {
        let m = Mosquitto::start();
        m.retain("sensors/connected/door", "1");
        m.retain("sensors/connected/lamp", "1");
        m.retain("sensors/connected/steady", "1");
        let session = format!("scan-test-{}", m.port);
        let args = ["--session", session.as_str(), "--mqtt-version", version];
        let mut w = Watch::start(&m.url(), &args);
        w.wait_event("the snapshot", |e| is_change(e, "steady", "online"));
        assert!(w.signal("INT").success());

        // While nobody watches: the door goes offline, and a status is published without
        // retain (only a session can deliver that one).
        m.retain("sensors/connected/door", "0");
        m.pub_cmd(&["-q", "1", "-t", "sensors/connected/lamp", "-m", "0"]);

        let w = Watch::start(&m.url(), &args);
        // The snapshot (over a clean connection) ends with the unchanged client.
        w.wait_event("the snapshot's steady row", |e| {
            is_change(e, "steady", "online")
        });
        let events = w.events();
        let summary: Vec<(String, String, bool)> = events
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["to"].as_str().unwrap().to_owned(),
                    e["retained"].as_bool().unwrap(),
                )
            })
            .collect();
        let want = [
            ("door", "offline", false),
            ("lamp", "offline", false),
            ("steady", "online", true),
        ];
        let want: Vec<(String, String, bool)> = want
            .iter()
            .map(|(n, t, r)| ((*n).to_owned(), (*t).to_owned(), *r))
            .collect();
        assert_eq!(summary, want, "MQTT {version}: queued changes first, then the snapshot; the store's stale lamp=1 does not undo the session's lamp=0");
    }
}

#[test]
fn a_session_for_a_read_only_user_still_gets_its_snapshot() {
    // Anonymous clients may read but not publish: the session's probe is dropped.
    let m = Mosquitto::with_writer("topic read #\ntopic read $SYS/#\n");
    m.retain_as_writer("sensors/connected/ro", "1");
    for version in ["3.1.1", "5"] {
        let session = format!("ro-{version}-{}", m.port);
        let w = Watch::start(
            &m.url(),
            &[
                "--session",
                &session,
                "--wait",
                "1s",
                "--mqtt-version",
                version,
            ],
        );
        w.wait_event("the snapshot despite the dropped probe", |e| {
            is_change(e, "ro", "online")
        });
    }
}

#[test]
fn a_snapshot_connection_refused_at_first_is_retried() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/retry-me", "0");
    // Connection 1 is the live session, 2 the first snapshot connection: dropped.
    let proxy = refusing_proxy(m.port, &[2]);
    let w = Watch::start(
        &format!("127.0.0.1:{proxy}"),
        &["--session", &format!("retry-{}", m.port)],
    );
    let warning = wait_for(
        "a refused snapshot connection",
        Duration::from_secs(10),
        || {
            w.errors()
                .into_iter()
                .find(|l| l.contains("cannot take the retained snapshot"))
        },
    );
    assert!(
        warning.starts_with("mqtt-scan: warning: ") && warning.contains("trying again in"),
        "{warning}"
    );
    w.wait_event("the snapshot after a retry", |e| {
        is_change(e, "retry-me", "offline")
    });
}

#[test]
fn statuses_that_were_never_retained_survive_a_resync() {
    let mut m = Mosquitto::start();
    m.retain("sensors/connected/kept-by-store", "1");
    let w = Watch::start(&m.url(), &[]);
    w.wait_event("the snapshot", |e| is_change(e, "kept-by-store", "online"));
    // Like Sparkplug's births: never retained, so the store cannot vouch for it either way.
    m.pub_cmd(&["-q", "1", "-t", "sensors/connected/live-only", "-m", "1"]);
    w.wait_event("the live status", |e| is_change(e, "live-only", "online"));
    m.restart();
    w.wait_event("the store's row removed", |e| {
        is_change(e, "kept-by-store", "removed")
    });
    assert!(
        !w.events()
            .iter()
            .any(|e| is_change(e, "live-only", "removed")),
        "{:?}",
        w.events()
    );
}

#[test]
fn the_log_file_holds_every_change() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/logged", "1");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("changes.jsonl");
    let mut w = Watch::start_format(&m.url(), "text", &["--log", log.to_str().unwrap()]);
    wait_for("the snapshot line", Duration::from_secs(10), || {
        w.lines()
            .into_iter()
            .find(|l| l.contains(" logged - -> online "))
    });
    m.retain("sensors/connected/logged", "0");
    wait_for("the change line", Duration::from_secs(10), || {
        w.lines()
            .into_iter()
            .find(|l| l.contains(" logged online -> offline "))
    });
    // Synced per batch: the file has it while the watcher still runs.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines
        .iter()
        .any(|e| is_change(e, "logged", "online") && e["from"].is_null()));
    assert!(lines
        .iter()
        .any(|e| is_change(e, "logged", "offline") && e["from"] == "online"));
    assert!(w.signal("TERM").success());
}

#[test]
fn sigint_and_sigterm_end_the_watcher_promptly_with_exit_0() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/x", "1");
    for sig in ["INT", "TERM"] {
        let mut w = Watch::start(&m.url(), &[]);
        w.wait_event("the snapshot", |e| is_change(e, "x", "online"));
        let started = std::time::Instant::now();
        let status = w.signal(sig);
        assert_eq!(status.code(), Some(0), "{sig}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{sig} took {:?}",
            started.elapsed()
        );
    }
    // A clean DISCONNECT, not a dropped socket.
    wait_for(
        "a clean disconnect in the broker log",
        Duration::from_secs(5),
        || (m.log_text().matches("Received DISCONNECT").count() >= 2).then_some(()),
    );
}

#[test]
fn an_unreachable_broker_at_start_is_exit_1() {
    let port = free_port();
    let out = Command::new(BIN)
        .args(["watch", "-b", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("mqtt-scan: connection refused by 127.0.0.1:{port}: is the broker running?\n")
    );
}
