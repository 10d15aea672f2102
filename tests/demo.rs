//! `mqtt-scan demo`, completions and the man page: a newcomer's first minutes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `mqtt-scan demo` with `args`, its stdout as `stdout` says, and stderr read here.
fn spawn_demo(args: &[&str], stdout: Stdio) -> Child {
    Command::new(BIN)
        .arg("demo")
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The demo broker's URL: the first line of the demo's stderr says it. The rest of its
/// stderr goes on being read (into nothing): a closed pipe would fail the demo's next
/// warning, and with it the demo.
fn demo_url(demo: &mut Child) -> String {
    let mut stderr = BufReader::new(demo.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(
        first.starts_with("mqtt-scan: demo broker at mqtt://127.0.0.1:"),
        "{first}"
    );
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    first
        .split_whitespace()
        .find(|w| w.starts_with("mqtt://"))
        .unwrap()
        .to_owned()
}

/// `list --json` against `url`, from outside the demo.
fn list_json(url: &str) -> Option<serde_json::Value> {
    let out = Command::new(BIN)
        .args(["list", "--json", "-b", url])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn the_demo_runs_by_itself_shows_a_will_and_can_be_listed_from_outside() {
    let started = Instant::now();
    let mut demo = spawn_demo(&["--duration", "6s", "--format", "jsonl"], Stdio::piped());
    let url = demo_url(&mut demo);

    // While it runs, another `list` sees the fleet: online and (once a Will fired) offline.
    let doc = wait_for("online and offline clients", Duration::from_secs(5), || {
        let doc = list_json(&url)?;
        (doc["summary"]["online"].as_u64()? > 0 && doc["summary"]["offline"].as_u64()? > 0)
            .then_some(doc)
    });
    assert!(doc["summary"]["total"].as_u64().unwrap() >= 8, "{doc}");

    let out = demo.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "ends by itself with 0");
    assert!(started.elapsed() < Duration::from_secs(15));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["from"].is_null() && e["to"] == "online"),
        "the snapshot"
    );
    // The crashing devices vanish without DISCONNECT in the first seconds: their Will says 0.
    let will = events
        .iter()
        .find(|e| e["from"] == "online" && e["to"] == "offline" && e["retained"] == false)
        .expect("a Will-driven offline event");
    assert_eq!(will["payload"], "0");
}

#[test]
fn devices_sets_the_fleet_size() {
    let mut demo = Command::new(BIN)
        .args([
            "demo",
            "--devices",
            "3",
            "--duration",
            "3s",
            "--format",
            "jsonl",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(demo.stdout.take().unwrap());
    let names: std::collections::BTreeSet<String> = stdout
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter_map(|e| e["name"].as_str().map(ToOwned::to_owned))
        .collect();
    assert!(demo.wait().unwrap().success());
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = stdout(&out);
        assert!(
            text.len() > 1000 && text.contains("mqtt-scan"),
            "{shell}: {} bytes",
            text.len()
        );
        // fish writes long options as `-l broker`.
        assert!(text.contains("watch") && text.contains("broker"), "{shell}");
    }
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_is_roff_naming_every_subcommand() {
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert!(out.status.success());
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH mqtt-scan"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains(".TH mqtt-scan 1"), "a section 1 page");
    for sub in [
        "list",
        "watch",
        "check",
        "announce",
        "prune",
        "presets",
        "demo",
        "completions",
        "man",
    ] {
        assert!(
            page.contains(&format!("mqtt\\-scan\\-{sub}")),
            "{sub} is named"
        );
    }
    // Rendered by man(1) when it is installed.
    if Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "mqtt-scan.1", &page);
        let out = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("mqtt-scan"));
    }
}

#[test]
fn the_largest_fleet_is_listed_whole_from_outside() {
    // rumqttd drops the retained messages past `max_outgoing_packet_count` for a new
    // subscriber (200 in its own rumqttd.toml): the demo's broker must hold room for all.
    let mut demo = spawn_demo(
        &[
            "--devices",
            "1000",
            "--duration",
            "60s",
            "--format",
            "jsonl",
        ],
        Stdio::null(),
    );
    let url = demo_url(&mut demo);
    // Five devices in six use the default topic; the sixth is Tasmota's.
    let plain = (0..1000).filter(|i| i % 6 != 5).count();
    let total = wait_for("every status listed", Duration::from_secs(30), || {
        let doc = list_json(&url)?;
        let total = doc["summary"]["total"].as_u64()?;
        (total >= 200)
            .then_some(total)
            .filter(|&t| t == plain as u64)
    });
    assert_eq!(total, plain as u64);
    let _ = demo.kill();
    let _ = demo.wait();
}
