//! The terminal view of `watch`, driven in a real pseudo-terminal by tmux: what a person
//! sees, what the keys do, and that the terminal is restored.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// A tmux server of the test's own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> Self {
        Self::start_at(name, command, 140)
    }

    fn start_at(name: &str, command: &str, width: u16) -> Self {
        let t = Self {
            socket: format!("mqtt-scan-test-{name}-{}", std::process::id()),
        };
        t.tmux(&[
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            "20",
            command,
        ]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    fn keys(&self, keys: &str) {
        self.tmux(&["send-keys", keys]);
    }

    /// Waits until the screen shows what `pred` wants; returns that screen. (On a timeout
    /// the drop shows the screen.)
    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_for(what, Duration::from_secs(15), || {
            let screen = self.screen();
            pred(&screen).then_some(screen)
        })
    }

    /// `q`, and the watcher's exit: returns the screen after it.
    fn quit(&self) -> String {
        self.keys("q");
        self.wait_screen("the watcher to exit", |s| s.contains("EXITED 0"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What the person would have seen when the test failed.
            if let Ok(out) = Command::new("tmux")
                .arg("-L")
                .arg(&self.socket)
                .args(["capture-pane", "-p"])
                .output()
            {
                eprintln!("the screen:\n{}", String::from_utf8_lossy(&out.stdout));
            }
        }
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// The table row of `name` (the selected row starts with the cursor `▶`).
fn line_with<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.trim_start_matches('▶').split_whitespace().next() == Some(name))
}

/// The table's header line.
fn header_of(screen: &str) -> Option<&str> {
    screen.lines().find(|l| l.trim_start().starts_with("NAME "))
}

/// Whether `text` holds `HH:MM:SSZ` right after `after`.
fn whole_time_after(text: &str, after: &str) -> bool {
    text.find(after).is_some_and(|i| {
        let t: Vec<char> = text[i + after.len()..].chars().take(9).collect();
        t.len() == 9
            && t[2] == ':'
            && t[5] == ':'
            && t[8] == 'Z'
            && [0, 1, 3, 4, 6, 7].iter().all(|&k| t[k].is_ascii_digit())
    })
}

/// Runs the watcher, then reports its exit code and whether the terminal left raw mode.
fn command(broker: &str) -> String {
    command_with(broker, "")
}

fn command_with(broker: &str, extra: &str) -> String {
    format!(
        "{BIN} watch -b {broker} --color never {extra}; echo EXITED $?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo | tr '\\n' ' '; echo; sleep 60"
    )
}

#[test]
fn the_terminal_view_shows_the_table_follows_changes_and_q_restores_the_screen() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    m.retain(
        "sensors/connected/sensor2",
        r#"{"status":0,"ip":"10.0.0.2"}"#,
    );
    let t = Tmux::start("q", &command(&m.url()));

    let screen = t.wait_screen("the header and both rows", |s| {
        s.contains("● connected")
            && line_with(s, "sensor1").is_some()
            && line_with(s, "sensor2").is_some()
    });
    assert!(
        screen.starts_with("mqtt-scan mqtt://127.0.0.1:"),
        "{screen}"
    );
    assert!(
        screen.contains("2 clients: 1 online, 1 offline, 0 unknown"),
        "{screen}"
    );
    assert!(header_of(&screen).is_some_and(|l| l.contains("STATE") && l.contains("TOPIC")));
    assert!(line_with(&screen, "sensor2").unwrap().contains("10.0.0.2"));

    m.retain("sensors/connected/sensor1", "0");
    t.wait_screen("sensor1 going offline", |s| {
        line_with(s, "sensor1").is_some_and(|l| l.contains("offline"))
            && s.contains("0 online, 2 offline")
    });

    m.retain("sensors/connected/sensor3", "1");
    // Shown first, so that the offline-only view hiding it means something.
    t.wait_screen("sensor3", |s| line_with(s, "sensor3").is_some());
    t.keys("o");
    let screen = t.wait_screen("the offline-only view", |s| {
        s.contains("offline only") && line_with(s, "sensor3").is_none()
    });
    assert!(line_with(&screen, "sensor1").is_some(), "{screen}");
    t.keys("o");
    t.keys("s");
    t.wait_screen("sort by state", |s| {
        s.contains("sort: state") && line_with(s, "sensor3").is_some()
    });

    let screen = t.quit();
    assert!(
        !screen.contains("NAME"),
        "the alternate screen is gone: {screen}"
    );
    t.wait_screen("a cooked terminal again", |s| s.contains("icanon echo"));
}

#[test]
fn sigterm_and_a_lost_broker_leave_the_terminal_restored() {
    let mut m = Mosquitto::start();
    m.retain("sensors/connected/s1", "1");
    let t = Tmux::start("term", &command(&m.url()));
    t.wait_screen("the row", |s| line_with(s, "s1").is_some());

    // The broker goes away: the header says so and the table stays.
    m.stop();
    let screen = t.wait_screen("the reconnecting header", |s| {
        s.contains("reconnecting (attempt")
    });
    assert!(screen.contains("stale since"), "{screen}");
    assert!(
        line_with(&screen, "s1").is_some(),
        "the table is kept: {screen}"
    );
    m.restart();
    t.wait_screen("connected again", |s| {
        s.contains("● connected") && !s.contains("stale since")
    });

    // The watcher itself, not the shell or tmux whose command lines also name it.
    let pids = Command::new("pgrep")
        .args(["-x", "mqtt-scan"])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&pids.stdout)
        .lines()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&m.url()))
        })
        .expect("the watcher runs")
        .to_owned();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let screen = t.wait_screen("the watcher to exit", |s| s.contains("EXITED 0"));
    assert!(!screen.contains("NAME"), "{screen}");
    t.wait_screen("a cooked terminal again", |s| s.contains("icanon echo"));
}

#[test]
fn a_kept_session_is_current_again_after_a_broker_restart_and_the_log_gets_the_changes() {
    let m = Mosquitto::with(|port, dir| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\nautosave_on_changes true\n",
            dir.display()
        )
    });
    let mut m = m;
    m.retain("sensors/connected/k1", "1");
    let log = m.dir.path().join("changes.jsonl");
    let extra = format!("--session kept-{} --log {}", m.port, log.display());
    let t = Tmux::start("kept", &command_with(&m.url(), &extra));
    t.wait_screen("the row", |s| {
        line_with(s, "k1").is_some() && !s.contains("syncing")
    });

    m.stop();
    t.wait_screen("the reconnecting header", |s| {
        s.contains("reconnecting (attempt")
    });
    m.restart();
    t.wait_screen("connected and current again", |s| {
        s.contains("● connected") && !s.contains("stale since")
    });

    m.retain("sensors/connected/k1", "0");
    t.wait_screen("the change", |s| {
        line_with(s, "k1").is_some_and(|l| l.contains("offline"))
    });
    let text = wait_for("the change in the log", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("\"to\":\"offline\"").then_some(text)
    });
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{text}"
    );
    t.quit();
}

/// An 80-column terminal: whole names (sensor1 and sensor10 apart), whole times (FOR of a
/// years-old status, SINCE, the clock and "stale since" in the header), no line wrapped.
#[test]
fn at_80_columns_names_and_times_are_whole() {
    let mut m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    m.retain("sensors/connected/sensor10", "0");
    m.retain(
        "sensors/connected/sensor2",
        r#"{"status":1,"ts":1700000000,"ip":"10.0.0.2"}"#,
    );
    let t = Tmux::start_at("narrow", &command(&m.url()), 80);
    let screen = t.wait_screen("the rows, synced", |s| {
        s.contains("● connected  ")
            && ["sensor1", "sensor2", "sensor10"]
                .iter()
                .all(|n| line_with(s, n).is_some())
    });
    let header = header_of(&screen).unwrap();
    let row2 = line_with(&screen, "sensor2").unwrap();
    assert!(
        header.contains("FOR") && header.contains("SINCE"),
        "{screen}"
    );
    assert!(
        row2.contains("2023-11-14 22:13:20Z"),
        "SINCE whole: {screen}"
    );
    let held = row2
        .split("22:13:20Z")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>();
    assert!(
        held.len() == 2 && held[0].ends_with('d') && held[1].ends_with('h'),
        "FOR whole (e.g. 1102d 12h): {row2}"
    );
    assert!(line_with(&screen, "sensor10").unwrap().contains("offline"));
    assert!(
        whole_time_after(screen.lines().next().unwrap(), "● connected  "),
        "{screen}"
    );

    // The broker goes away: the reconnecting header keeps its times whole.
    m.stop();
    let screen = t.wait_screen("the reconnecting header", |s| s.contains("stale since"));
    let first = screen.lines().next().unwrap();
    assert!(whole_time_after(first, "stale since "), "{first}");
    assert!(first.contains("○ reconnecting"), "{first}");
    assert!(line_with(&screen, "sensor10").is_some(), "{screen}");
    t.quit();
}

/// `list` on an 80-column terminal: one line per row, names whole, SINCE whole.
#[test]
fn list_on_an_80_column_terminal_writes_one_line_per_row() {
    let m = Mosquitto::start();
    for i in [1, 2, 10, 11] {
        m.retain(
            &format!("sensors/connected/building-7/floor-3/sensor{i}"),
            &format!(r#"{{"status":1,"ts":1795255201,"ip":"192.168.100.{i}"}}"#),
        );
    }
    let cmd = format!(
        "{BIN} list -b {} --color never; echo EXITED $?; sleep 60",
        m.url()
    );
    let t = Tmux::start_at("list80", &cmd, 80);
    let screen = t.wait_screen("the table", |s| s.contains("EXITED 0"));
    let lines: Vec<&str> = screen.lines().collect();
    let head = lines.iter().position(|l| l.starts_with("NAME")).unwrap();
    let summary = lines
        .iter()
        .position(|l| l.starts_with("4 clients"))
        .unwrap();
    assert_eq!(summary - head, 5, "one line per row:\n{screen}");
    for (row, i) in lines[head + 1..summary].iter().zip([1, 2, 10, 11]) {
        let name = format!("building-7/floor-3/sensor{i}");
        assert!(row.starts_with(&format!("{name} ")), "{row}");
        assert!(row.contains("2026-11-21 10:00:01Z"), "{row}");
    }
    // A pipe keeps every column whole.
    let out = scan(&m.url(), &["list"]);
    assert!(stdout(&out).lines().next().unwrap().contains("TOPIC"));
}

#[test]
fn enter_shows_the_selected_clients_payload_and_history() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/alpha", "1");
    m.retain(
        "sensors/connected/dev1",
        r#"{"status":1,"ip":"10.0.0.9","firmware":"4.2.1"}"#,
    );
    let t = Tmux::start("detail", &command(&m.url()));
    t.wait_screen("the rows", |s| {
        line_with(s, "alpha").is_some() && line_with(s, "dev1").is_some()
    });
    // The cursor starts on the first row; Down selects dev1.
    t.keys("Down");
    t.wait_screen("the cursor on dev1", |s| {
        s.lines().any(|l| l.starts_with('▶') && l.contains("dev1"))
    });
    t.keys("Enter");
    let screen = t.wait_screen("the detail pane", |s| s.contains(r#""firmware": "4.2.1""#));
    assert!(screen.contains("10.0.0.9"), "{screen}");
    assert!(screen.contains("sensors/connected/dev1"), "{screen}");
    assert!(screen.contains("first seen online (retained)"), "{screen}");
    // The pane follows the client live: its history grows.
    m.retain("sensors/connected/dev1", r#"{"status":0}"#);
    t.wait_screen("the change in its history", |s| {
        s.contains("online -> offline")
    });
    t.keys("Escape");
    let screen = t.wait_screen("the table again", |s| {
        header_of(s).is_some() && !s.contains("firmware")
    });
    assert!(line_with(&screen, "dev1").unwrap().contains("offline"));
    t.quit();
}

#[test]
fn slash_filters_by_name_and_presets_add_a_source_column() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    m.retain("sensors/connected/sensor2", "0");
    m.retain("tele/plug1/LWT", "Online");
    let extra = "-t sensors/connected/# --preset tasmota";
    let t = Tmux::start("filter", &command_with(&m.url(), extra));
    let screen = t.wait_screen("the rows", |s| {
        ["sensor1", "sensor2", "plug1"]
            .iter()
            .all(|n| line_with(s, n).is_some())
    });
    assert!(
        header_of(&screen).is_some_and(|h| h.contains("SOURCE")),
        "{screen}"
    );
    assert!(line_with(&screen, "plug1").unwrap().contains("tasmota"));

    t.keys("/");
    t.keys("SENS");
    let screen = t.wait_screen("the narrowed table", |s| {
        s.contains("filter: SENS") && line_with(s, "plug1").is_none()
    });
    assert!(line_with(&screen, "sensor1").is_some(), "{screen}");
    assert!(
        screen.contains("/SENS"),
        "typed text in the footer: {screen}"
    );
    // Enter keeps the filter; then keys are keys again (`o`: offline only).
    t.keys("Enter");
    t.keys("o");
    t.wait_screen("the kept filter, offline only", |s| {
        s.contains("offline only")
            && s.contains("filter: SENS")
            && line_with(s, "sensor1").is_none()
            && line_with(s, "sensor2").is_some()
    });
    t.keys("o");
    t.keys("Escape");
    t.wait_screen("the filter cleared", |s| {
        !s.contains("filter:") && line_with(s, "plug1").is_some()
    });
    t.quit();
}

/// `list` from a person's terminal with a filter that matches nothing: stdout as ever, and
/// on stderr which filters matched nothing and how to look.
#[test]
fn an_empty_list_at_a_terminal_says_why_on_stderr() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdout");
    let cmd = format!(
        "{BIN} list -b {} -t 'sensors/conected/#' -t 'b/+/status' > {}; echo EXITED $?; sleep 60",
        m.url(),
        out.display()
    );
    let t = Tmux::start("empty", &cmd);
    let screen = t.wait_screen("the hint", |s| s.contains("EXITED 0"));
    assert!(
        screen.contains(
            "mqtt-scan: no retained status matched the topic filters 'sensors/conected/#', 'b/+/status'"
        ),
        "{screen}"
    );
    assert!(screen.contains("mqtt-scan list -t '#'"), "{screen}");
    assert!(screen.contains("mqtt-scan presets"), "{screen}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "0 clients: 0 online, 0 offline, 0 unknown\n",
        "stdout unchanged"
    );
}

/// A broker's client events (the aws-iot preset): the row's since is the event's own time,
/// its IP and detail (the disconnect reason) come from the payload.
#[test]
fn event_presets_show_the_events_time_address_and_reason() {
    let m = Mosquitto::start();
    let t = Tmux::start("events", &command_with(&m.url(), "--preset aws-iot"));
    wait_for("the watcher to subscribe", Duration::from_secs(10), || {
        m.log_text()
            .contains("$aws/events/presence/disconnected/+")
            .then_some(())
    });
    let now_ms = chrono::Utc::now().timestamp_millis();
    let hours_ago = |minutes: i64| now_ms - minutes * 60_000;
    let up = format!(
        r#"{{"clientId":"186b5","timestamp":{},"eventType":"connected","ipAddress":"192.0.2.0","versionNumber":0}}"#,
        hours_ago(185)
    );
    m.pub_cmd(&[
        "-q",
        "1",
        "-t",
        "$aws/events/presence/connected/186b5",
        "-m",
        &up,
    ]);
    t.wait_screen("the connected client", |s| {
        line_with(s, "186b5").is_some_and(|l| l.contains("online"))
    });
    let down = format!(
        r#"{{"clientId":"186b5","timestamp":{},"eventType":"disconnected","clientInitiatedDisconnect":true,"disconnectReason":"CLIENT_INITIATED_DISCONNECT","versionNumber":0}}"#,
        hours_ago(180)
    );
    m.pub_cmd(&[
        "-q",
        "1",
        "-t",
        "$aws/events/presence/disconnected/186b5",
        "-m",
        &down,
    ]);
    let screen = t.wait_screen("the disconnected client", |s| {
        line_with(s, "186b5").is_some_and(|l| l.contains("offline"))
    });
    let row = line_with(&screen, "186b5").unwrap();
    assert!(row.contains("CLIENT_INITIATED"), "{screen}");
    assert!(row.contains("192.0.2.0"), "the connect's address: {screen}");
    assert!(
        row.contains(" 3h "),
        "since from the event's timestamp: {screen}"
    );
    assert!(row.contains("aws-iot"), "{screen}");
    t.quit();
}
