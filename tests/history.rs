//! `serve`'s history database against a real mosquitto: what the API acknowledged survives
//! `kill -9`, a restart brings the table and each row's since back, retention deletes by
//! age, and a database that is damaged, foreign or in use is one clear error.

mod common;
#[path = "support/serve.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use support::*;

fn db_in(state: &tempfile::TempDir) -> PathBuf {
    state.path().join("mqtt-scan/history.sqlite3")
}

fn read_db(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// `to_state` of every recorded transition of `name`, in order (None: gone).
fn recorded(path: &Path, name: &str) -> Vec<Option<String>> {
    let db = read_db(path);
    let mut stmt = db
        .prepare("SELECT to_state FROM transitions WHERE name = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([name], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// (time, from, to) of a change line or a transition object.
fn key(v: &serde_json::Value) -> (String, String, String) {
    (
        v["time"].to_string(),
        v["from"].to_string(),
        v["to"].to_string(),
    )
}

#[test]
fn kill_9_loses_no_transition_the_api_acknowledged() {
    let m = Mosquitto::start();
    let state = Arc::new(tempfile::tempdir().unwrap());
    let mut s = Serve::start_in(state.clone(), &m.url(), &[]);
    s.wait_ready();
    let sse = Sse::open(s.port);

    // One client flapping as fast as libmosquitto publishes: 600 retained statuses.
    let mut flapper = Command::new("mosquitto_pub")
        .args(["-p", &m.port.to_string(), "-t", "sensors/connected/flap"])
        .args(["-r", "-q", "1", "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("mosquitto_pub (mosquitto-clients)");
    let lines = "1\n0\n".repeat(300);
    flapper
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let flaps = |sse: &Sse| {
        sse.messages()
            .into_iter()
            .filter(|l| l["name"] == "flap")
            .collect::<Vec<_>>()
    };
    wait_for(
        "200 transitions in the stream",
        Duration::from_secs(30),
        || (flaps(&sse).len() >= 200).then_some(()),
    );
    let status = s.signal("KILL");
    assert_eq!(status.code(), None, "killed by the signal");
    wait_for("the stream to end", Duration::from_secs(5), || {
        sse.ended().then_some(())
    });
    // Everything the stream carried was shown, so acknowledged.
    let acknowledged: Vec<_> = flaps(&sse).iter().map(key).collect();
    let _ = flapper.wait();

    let s = Serve::start_in(state.clone(), &m.url(), &[]);
    s.wait_ready();
    let (status, doc) = s.json("/api/clients/flap?limit=100000");
    assert_eq!(status, 200, "{doc}");
    let kept: Vec<_> = doc["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    assert!(
        kept.len() >= acknowledged.len(),
        "{} kept, {} acknowledged",
        kept.len(),
        acknowledged.len()
    );
    assert_eq!(
        &kept[..acknowledged.len()],
        &acknowledged[..],
        "every acknowledged transition, in order"
    );
    // The default is the last 100, oldest first.
    let (_, last) = s.json("/api/clients/flap");
    let last: Vec<_> = last["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    assert_eq!(last.len(), 100);
    assert_eq!(&last[..], &kept[kept.len() - 100..]);
    let (status, bad) = s.json("/api/clients/flap?limit=lots");
    assert_eq!(status, 400, "{bad}");
}

#[test]
fn a_restart_brings_the_table_back_and_an_unchanged_retained_status_keeps_its_since() {
    let m = Mosquitto::start();
    let state = Arc::new(tempfile::tempdir().unwrap());
    let mut s = Serve::start_in(state.clone(), &m.url(), &[]);
    s.wait_ready();
    // Seen live: serve knows since when.
    for name in ["kept", "leaving", "turning"] {
        m.retain(&format!("sensors/connected/{name}"), "1");
    }
    let since = wait_for("the statuses seen live", Duration::from_secs(10), || {
        let (_, doc) = s.json("/api/clients");
        let kept = client(&doc, "kept")?["since"].as_str()?.to_owned();
        (doc["summary"]["total"] == 3).then_some(kept)
    });
    assert_eq!(s.signal("TERM").code(), Some(0), "{:?}", s.errors());

    // While serve is away: one goes, one turns offline.
    m.clear("sensors/connected/leaving");
    m.retain("sensors/connected/turning", "0");
    let fresh = list_json(&m.url(), &[]);
    assert!(
        client(&fresh, "kept").unwrap()["since"].is_null(),
        "list alone cannot know: {fresh}"
    );

    let s = Serve::start_in(state.clone(), &m.url(), &[]);
    assert!(
        s.errors()
            .iter()
            .any(|l| l.ends_with("(3 clients from the last run)")),
        "{:?}",
        s.errors()
    );
    s.wait_ready();
    let (_, doc) = s.json("/api/clients");
    assert_eq!(doc["summary"]["total"], 2, "{doc}");
    let kept = client(&doc, "kept").unwrap();
    assert_eq!(kept["since"].as_str(), Some(since.as_str()), "{doc}");
    assert_eq!(kept["retained"], true);
    let turning = client(&doc, "turning").unwrap();
    assert_eq!(turning["state"], "offline");
    assert!(
        turning["since"].is_null(),
        "it turned while nobody watched: {doc}"
    );
    assert_eq!(s.get("/api/clients/leaving").status, 404);

    let db = db_in(&state);
    assert_eq!(
        recorded(&db, "leaving"),
        [Some("online".to_owned()), None],
        "its going is recorded"
    );
    assert_eq!(
        recorded(&db, "turning"),
        [Some("online".to_owned()), Some("offline".to_owned())]
    );
    assert_eq!(recorded(&db, "kept"), [Some("online".to_owned())]);
    let stretches: Vec<(i64, i64)> = read_db(&db)
        .prepare("SELECT start_ms, end_ms FROM watched ORDER BY start_ms")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stretches.len(), 2, "one per run: {stretches:?}");
    assert!(
        stretches[0].1 > stretches[0].0,
        "the first run's stretch ended at its stop: {stretches:?}"
    );
}

#[test]
fn keep_deletes_transitions_older_than_it() {
    let m = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite3");
    let db_arg = db.to_str().unwrap();
    let mut s = Serve::start(&m.url(), &["--db", db_arg]);
    s.wait_ready();
    assert_eq!(s.signal("TERM").code(), Some(0), "{:?}", s.errors());

    let day = 86_400_000_i64;
    let now = chrono::Utc::now().timestamp_millis();
    {
        let w = rusqlite::Connection::open(&db).unwrap();
        let mut insert = w
            .prepare(
                "INSERT INTO transitions (time_ms, name, from_state, to_state, topic, payload, retained) \
                 VALUES (?1, ?2, NULL, 'online', 'sensors/connected/x', '\"1\"', 0)",
            )
            .unwrap();
        for i in 0..12_000 {
            insert
                .execute(rusqlite::params![now - 40 * day + i, "old"])
                .unwrap();
        }
        insert
            .execute(rusqlite::params![now - 10 * day, "recent"])
            .unwrap();
        w.execute(
            "INSERT INTO watched (start_ms, end_ms) VALUES (?1, ?2)",
            [now - 41 * day, now - 40 * day],
        )
        .unwrap();
    }
    let count = |sql: &str| -> i64 { read_db(&db).query_row(sql, [], |r| r.get(0)).unwrap() };
    let _s = Serve::start(&m.url(), &["--db", db_arg, "--keep", "30d"]);
    wait_for(
        "the old transitions deleted",
        Duration::from_secs(20),
        || (count("SELECT count(*) FROM transitions WHERE name = 'old'") == 0).then_some(()),
    );
    assert_eq!(
        count("SELECT count(*) FROM transitions WHERE name = 'recent'"),
        1
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM watched WHERE end_ms < {}",
            now - 30 * day
        )),
        0
    );
}

fn serve_fails(m: &Mosquitto, db: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "serve",
            "-b",
            &m.url(),
            "--listen",
            "127.0.0.1:0",
            "--db",
            db,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("mqtt-scan: "), "{err}");
    assert!(
        !err.contains("Sqlite") && !err.contains("panicked"),
        "{err}"
    );
    err
}

#[test]
fn a_damaged_foreign_or_busy_database_is_one_clear_error() {
    let m = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();

    let garbage = dir.path().join("garbage.sqlite3");
    std::fs::write(&garbage, vec![0x42_u8; 8192]).unwrap();
    let err = serve_fails(&m, garbage.to_str().unwrap());
    assert!(
        err.contains("is damaged or not an SQLite database"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        vec![0x42_u8; 8192],
        "left alone"
    );

    let foreign = dir.path().join("other.sqlite3");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let err = serve_fails(&m, foreign.to_str().unwrap());
    assert!(
        err.contains("is not an mqtt-scan history database"),
        "{err}"
    );

    let ours = dir.path().join("ours.sqlite3");
    let ours = ours.to_str().unwrap();
    let first = Serve::start(&m.url(), &["--db", ours]);
    first.wait_ready();
    let err = serve_fails(&m, ours);
    assert!(
        err.contains("is in use by another `mqtt-scan serve`"),
        "{err}"
    );
    assert!(err.contains("--db"), "{err}");

    let err = serve_fails(&m, "/proc/mqtt-scan/history.sqlite3");
    assert!(err.contains("cannot create /proc/mqtt-scan"), "{err}");
}

#[test]
fn availability_is_the_share_of_watched_time_online() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/always", "1");
    m.retain("sensors/connected/never", "0");
    let s = Serve::start(&m.url(), &[]);
    s.wait_ready();
    // Computed at most once a minute: a first answer in the snapshot's own millisecond
    // knows no watched time yet, the next one does.
    let (status, doc) = wait_for(
        "both clients' availability",
        Duration::from_secs(90),
        || {
            let (status, doc) = s.json("/api/availability");
            let known = doc["clients"]["never"]["24h"].is_number();
            (doc["clients"].as_object()?.len() == 2 && known).then_some((status, doc))
        },
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["windows"], serde_json::json!(["24h", "7d"]));
    assert!(
        doc["generated_at"].as_str().unwrap().ends_with('Z'),
        "{doc}"
    );
    for window in ["24h", "7d"] {
        // Watched for a moment: online all of it, or none of it.
        assert_eq!(doc["clients"]["always"][window], 1.0, "{doc}");
        assert_eq!(doc["clients"]["never"][window], 0.0, "{doc}");
    }
    // The next answer within the minute is the same document.
    assert_eq!(s.json("/api/availability").1, doc);

    let bare = Serve::start(&m.url(), &["--no-db"]);
    let (status, doc) = bare.json("/api/availability");
    assert_eq!(status, 404, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("--no-db"), "{doc}");
}
