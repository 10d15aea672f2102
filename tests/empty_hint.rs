//! An empty `list` says why (on stderr), and stdout stays what it was.

mod common;

use common::*;

#[test]
fn an_empty_table_names_the_filters_and_how_to_look_on_stderr() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    let out = scan(&m.url(), &["list", "-t", "sensors/conected/#"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "0 clients: 0 online, 0 offline, 0 unknown\n",
        "stdout unchanged"
    );
    let err = stderr(&out);
    assert!(
        err.contains("no retained status matched the topic filter 'sensors/conected/#'"),
        "{err}"
    );
    assert!(err.contains("mqtt-scan list -t '#'"), "{err}");
    assert!(err.contains("mqtt-scan presets"), "{err}");
    assert!(err.lines().all(|l| l.starts_with("mqtt-scan: ")), "{err}");

    // Two filters are both named.
    let out = scan(&m.url(), &["list", "-t", "a/#", "-t", "b/+/status"]);
    assert!(
        stderr(&out).contains("the topic filters 'a/#', 'b/+/status'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn machine_formats_and_a_found_fleet_stay_quiet() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    for format in ["json", "jsonl", "csv"] {
        let out = scan(
            &m.url(),
            &["list", "-t", "sensors/conected/#", "--format", format],
        );
        assert!(out.status.success());
        assert_eq!(stderr(&out), "", "{format}: stderr is a pipe here: no hint");
    }
    let out = scan(&m.url(), &["list"]);
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).starts_with("NAME"), "{}", stdout(&out));
}
