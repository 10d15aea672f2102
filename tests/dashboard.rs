//! serve's dashboard in a real browser (Debian's headless Chromium, driven by
//! tests/browser/dashboard.mjs through playwright-core) against a real mosquitto: the table
//! shows, a client going offline is seen without a reload, a hostile name is text, filter
//! and sort work. With MQTT_SCAN_SCREENSHOT=PATH it also takes the README's screenshot.

mod common;
#[path = "support/serve.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use support::*;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// The browser and the driver: present, or (outside CI) the test is skipped saying how to
/// get them. In CI a missing part fails.
fn browser_parts() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = Path::new("/usr/bin/chromium").exists();
    let driver = dir.join("node_modules/playwright-core").exists();
    if chromium && driver {
        return Some(dir);
    }
    let how = "apt-get install chromium; npm ci --prefix tests/browser";
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: the browser test needs Chromium and playwright-core ({how})"
    );
    eprintln!("skipped: the dashboard test needs Chromium and playwright-core ({how})");
    None
}

#[test]
fn the_dashboard_shows_a_client_go_offline_without_a_reload_and_names_as_text() {
    let Some(dir) = browser_parts() else { return };
    let m = Mosquitto::start();
    m.retain("sensors/connected/flip", "1");
    m.retain(&format!("sensors/connected/{HOSTILE}"), "1");
    for i in 0..36 {
        let payload = match i % 9 {
            0 => "0".to_owned(),
            4 => "maybe".to_owned(),
            5 => format!(
                r#"{{"status":"online","ts":{},"ip":"10.0.3.{i}"}}"#,
                1_796_570_000 - i * 977
            ),
            _ => "1".to_owned(),
        };
        m.retain(&format!("sensors/connected/dev-{i}"), &payload);
    }
    let s = Serve::start(&m.url(), &[]);
    s.wait_ready();
    // Some seen arriving (their since is known), as a dashboard left open sees them.
    for name in ["edge-gw", "plant/line-3"] {
        m.retain(&format!("sensors/connected/{name}"), "online");
    }

    let mut args = vec![
        dir.join("dashboard.mjs").display().to_string(),
        format!("http://127.0.0.1:{}/", s.port),
    ];
    if let Some(shot) = std::env::var_os("MQTT_SCAN_SCREENSHOT") {
        args.push(shot.to_string_lossy().into_owned());
    }
    let mut node = Command::new("node")
        .args(&args)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node (apt-get install nodejs)");
    let (tx, rx) = mpsc::channel();
    let out = node.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the browser said nothing while waiting for {what}"))
    };
    let line = next("READY");
    assert_eq!(line, "READY", "{line}");
    m.retain("sensors/connected/flip", "0");
    let line = next("OK");
    assert_eq!(line, "OK", "{line}");
    let status = node.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn the_dashboard_is_served_with_a_strict_content_security_policy() {
    let m = Mosquitto::start();
    let s = Serve::start(&m.url(), &["--no-db"]);
    for (path, kind) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(kind), "{path}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let page = s.get("/").body;
    assert!(!page.contains("<script>"), "no inline script");
    let app = s.get("/assets/app.js").body;
    assert!(!app.contains("innerHTML"), "text goes in with textContent");
}
