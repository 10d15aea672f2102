//! An empty `list` in a script: stdout and stderr as before, whatever the format (the hint
//! is for a person at a terminal: see watch_tui.rs, which runs `list` in one).

mod common;

use common::*;

#[test]
fn an_empty_result_in_a_pipe_changes_nothing() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/sensor1", "1");
    let out = scan(&m.url(), &["list", "-t", "sensors/conected/#"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0 clients: 0 online, 0 offline, 0 unknown\n");
    assert_eq!(stderr(&out), "", "stderr is a pipe here: no hint");
    for format in ["json", "jsonl", "csv"] {
        let out = scan(
            &m.url(),
            &["list", "-t", "sensors/conected/#", "--format", format],
        );
        assert!(out.status.success());
        assert_eq!(stderr(&out), "", "{format}");
    }
    let out = scan(&m.url(), &["list"]);
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).starts_with("NAME"), "{}", stdout(&out));
}
