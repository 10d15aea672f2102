//! `list`, `check` and `watch` reading serve's history database (`--db FILE`, read-only)
//! against a real mosquitto: a retained status without a time gets the recorded since when
//! it is the status recorded; a database that is missing, damaged or locked is one clear
//! error (UNKNOWN for `check`).

mod common;
#[path = "support/serve.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const SCHEMA_HEAD: &str = "PRAGMA application_id = 1836151651; PRAGMA user_version = 1;";

/// A history database as serve leaves it, with these `clients` rows (name, state,
/// payload, since_ms), each on `sensors/connected/NAME`.
fn database(path: &Path, rows: &[(&str, &str, &str, i64)]) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(&format!("{SCHEMA_HEAD} {}", mqtt_scan::history::SCHEMA))
        .unwrap();
    for (name, state, payload, since) in rows {
        db.execute(
            "INSERT INTO clients (name, state, topic, payload, since_ms, seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            rusqlite::params![
                name,
                state,
                format!("sensors/connected/{name}"),
                payload.as_bytes(),
                since
            ],
        )
        .unwrap();
    }
}

#[test]
fn list_fills_since_from_the_database_for_the_same_status_only() {
    let m = Mosquitto::start();
    for name in ["kept", "reworded", "turned"] {
        m.retain(&format!("sensors/connected/{name}"), "1");
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite3");
    let since = 1_795_000_000_000_i64;
    database(
        &db,
        &[
            ("kept", "online", "1", since),
            ("reworded", "online", "online", since),
            ("turned", "offline", "1", since),
        ],
    );
    let alone = list_json(&m.url(), &[]);
    assert!(
        client(&alone, "kept").unwrap()["since"].is_null(),
        "{alone}"
    );

    let doc = list_json(&m.url(), &["--db", db.to_str().unwrap()]);
    let kept = client(&doc, "kept").unwrap();
    assert_eq!(kept["since"], "2026-11-18T11:06:40Z", "{doc}");
    assert_eq!(kept["retained"], true, "nothing else changes");
    for name in ["reworded", "turned"] {
        assert!(
            client(&doc, name).unwrap()["since"].is_null(),
            "{name}: {doc}"
        );
    }
    // The table shows it too (not `retained`).
    let out = scan(&m.url(), &["list", "--db", db.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.starts_with("kept "))
        .unwrap()
        .to_owned();
    assert!(line.contains("2026-11-18"), "{line}");
}

#[test]
fn a_missing_damaged_or_locked_database_is_one_clear_error() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/a", "1");
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("none.sqlite3");
    let missing = missing.to_str().unwrap();
    let out = scan(&m.url(), &["list", "--db", missing]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("mqtt-scan: no history database at "),
        "{err}"
    );
    assert!(err.contains("mqtt-scan serve --db"), "{err}");

    let out = scan(&m.url(), &["check", "--db", missing]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("MQTT-SCAN UNKNOWN - no history database at "),
        "{}",
        stdout(&out)
    );

    let out = scan(&m.url(), &["watch", "--format", "jsonl", "--db", missing]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("mqtt-scan: no history database at "));

    let garbage = dir.path().join("garbage.sqlite3");
    std::fs::write(&garbage, vec![7_u8; 4096]).unwrap();
    let out = scan(&m.url(), &["list", "--db", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("is damaged or not an SQLite database"),
        "{err}"
    );

    // Another process holds the write lock of a database in rollback mode (not serve's
    // WAL, where readers never wait): the read waits its 2 s, then says so.
    let locked = dir.path().join("locked.sqlite3");
    database(&locked, &[("a", "online", "1", 1)]);
    let holder = rusqlite::Connection::open(&locked).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE;").unwrap();
    let started = Instant::now();
    let out = scan(&m.url(), &["list", "--db", locked.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("is still locked by another process after 2 s (try again"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    holder.execute_batch("ROLLBACK;").unwrap();
}

#[test]
fn list_reads_the_database_serve_is_writing() {
    let m = Mosquitto::start();
    m.retain("sensors/connected/early", "1");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.sqlite3");
    let db = db.to_str().unwrap();
    let serve = support::Serve::start(&m.url(), &["--db", db]);
    serve.wait_ready();
    // Seen live by serve: it knows since when; `early` came retained: nobody knows.
    m.retain("sensors/connected/late", "1");
    let doc = wait_for(
        "the since from serve's record",
        Duration::from_secs(10),
        || {
            let doc = list_json(&m.url(), &["--db", db]);
            client(&doc, "late")?["since"].as_str()?;
            Some(doc)
        },
    );
    assert!(client(&doc, "early").unwrap()["since"].is_null(), "{doc}");
}
