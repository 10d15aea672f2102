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
        let t = Self {
            socket: format!("mqtt-scan-test-{name}-{}", std::process::id()),
        };
        t.tmux(&["new-session", "-d", "-x", "140", "-y", "20", command]);
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

    /// Waits until the screen shows what `pred` wants; returns that screen.
    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < end,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn line_with<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
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
    assert!(screen
        .lines()
        .any(|l| l.starts_with("NAME") && l.contains("STATE") && l.contains("TOPIC")));
    assert!(line_with(&screen, "sensor2").unwrap().contains("10.0.0.2"));

    m.retain("sensors/connected/sensor1", "0");
    t.wait_screen("sensor1 going offline", |s| {
        line_with(s, "sensor1").is_some_and(|l| l.contains("offline"))
            && s.contains("0 online, 2 offline")
    });

    m.retain("sensors/connected/sensor3", "1");
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

    t.keys("q");
    let screen = t.wait_screen("the watcher to exit", |s| s.contains("EXITED 0"));
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
    t.keys("q");
    t.wait_screen("the watcher to exit", |s| s.contains("EXITED 0"));
}
