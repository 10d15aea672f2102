//! What someone who knows mosquitto_sub types: `-h HOST -p PORT`, `-V mqttv5`, and the
//! flags mqtt-scan spells differently (each error names ours).

mod common;

use std::process::{Command, Output};

use common::*;

fn run(args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    for var in [
        "MQTT_SCAN_BROKER",
        "MQTT_SCAN_PASSWORD",
        "MQTT_SCAN_TOPIC",
        "MQTT_SCAN_MQTT_VERSION",
    ] {
        c.env_remove(var);
    }
    c.args(args).output().unwrap()
}

/// `list --json`'s document; panics with stderr when it fails.
fn doc(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn names(doc: &serde_json::Value) -> Vec<String> {
    doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn host_and_port_reach_the_broker_as_with_mosquitto_sub() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    let port = m.port.to_string();
    for args in [
        vec!["list", "--json", "-h", "127.0.0.1", "-p", &port],
        vec!["-h", "127.0.0.1", "--port", &port, "list", "--json"],
        vec!["list", "--json", "--host", "127.0.0.1", "-p", &port],
        // -p replaces the port of --broker; -h its host.
        vec!["list", "--json", "-b", "mqtt://127.0.0.1:1", "-p", &port],
        vec![
            "list",
            "--json",
            "-b",
            &format!("mqtt://nowhere.invalid:{port}"),
            "-h",
            "127.0.0.1",
        ],
    ] {
        let doc = doc(&run(&args));
        assert_eq!(names(&doc), ["sensor1"], "{args:?}");
        assert_eq!(
            doc["broker"],
            format!("mqtt://127.0.0.1:{port}"),
            "{args:?}"
        );
    }
}

#[test]
fn dash_v_is_the_mqtt_version_as_with_mosquitto_sub() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    for v in ["5", "311", "mqttv5", "mqttv311", "3.1.1"] {
        let out = run(&["list", "--json", "-b", &m.url(), "-V", v]);
        assert_eq!(names(&doc(&out)), ["sensor1"], "-V {v}");
    }
    let out = run(&["list", "-V", "mqttv6"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'mqttv6' for '--mqtt-version <VERSION>'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_is_on_help_only_and_the_version_on_version_only() {
    for args in [
        vec!["--help"],
        vec!["list", "--help"],
        vec!["check", "--help"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(stdout(&out).contains("Usage: mqtt-scan"), "{args:?}");
        assert!(stdout(&out).contains("-h, --host <HOST>"), "{args:?}");
    }
    let out = run(&["--version"]);
    assert_eq!(
        stdout(&out),
        format!("mqtt-scan {}\n", env!("CARGO_PKG_VERSION"))
    );
    // `-h` and `-V` want their values now: a usage error, not help or the version.
    for args in [vec!["list", "-h"], vec!["list", "-V"]] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            stderr(&out).starts_with("mqtt-scan: a value is required"),
            "{args:?}"
        );
    }
}

#[test]
fn mosquitto_sub_flags_get_an_error_naming_ours() {
    for (flag, ours) in [
        ("-P", "use --password"),
        ("-i", "use --client-id"),
        ("--id", "use --client-id"),
        ("-k", "use --keepalive"),
        ("-W", "use --wait"),
        ("-v", "not needed"),
        ("-q", "not needed"),
        ("--retained-only", "not needed"),
        ("-R", "not needed"),
        ("-C", "not needed"),
        ("-L", "use -b/--broker"),
    ] {
        let out = run(&["list", flag, "x"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert_eq!(err.lines().count(), 1, "{flag}: {err}");
        assert!(
            err.starts_with(&format!("mqtt-scan: unexpected argument '{flag}'")),
            "{flag}: {err}"
        );
        assert!(err.contains(ours), "{flag}: {err}");
        assert!(!err.contains("x'"), "the value is never echoed: {err}");
    }
    // check: the same hint, as UNKNOWN.
    let out = run(&["check", "-P", "secret"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).starts_with("MQTT-SCAN UNKNOWN - unexpected argument '-P'"));
    assert!(!stdout(&out).contains("secret") && !stderr(&out).contains("secret"));
    // Also after a top-level flag's value (`--preset NAME check`).
    let out = run(&["--preset", "tasmota", "check", "-P", "secret"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("MQTT-SCAN UNKNOWN - unexpected argument '-P'"));
}

#[test]
fn port_is_a_flag_of_its_own_not_a_typo_of_sort() {
    let out = run(&["list", "--port", "many"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid value 'many' for '--port <PORT>'"),
        "{err}"
    );
    assert!(!err.contains("--sort"), "{err}");
    for (args, want) in [
        (vec!["list", "-p", "0"], "invalid --port 0"),
        (vec!["list", "-h", "a/b"], "invalid --host 'a/b'"),
        (vec!["list", "-h", "h:1883"], "the port goes in -p/--port"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
}
