//! The history database (SQLite, through rusqlite with SQLite bundled): every transition
//! `serve` saw, the table as it last stood, and when `serve` was watching.
//!
//! `serve` writes it (one writer per file, WAL, batched transactions); `list`, `watch` and
//! `check --db` read it, read-only, to fill `since` where the broker's payload gives no
//! time. A reader never blocks the writer and the writer never blocks a reader (WAL).
//!
//! The schema below is the contract between the writer, the readers, the dashboard's
//! availability and the benchmarks: change it only with a new [`SCHEMA_VERSION`] and a
//! migration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::status::Payload;

pub mod read;
pub mod write;

/// `PRAGMA user_version` of a database this build writes.
pub const SCHEMA_VERSION: i64 = 1;

/// `PRAGMA application_id`: "mqsc". A file with another id is not ours.
pub const APPLICATION_ID: i64 = 0x6d71_7363;

/// The tables. Times are milliseconds since the Unix epoch (UTC); states are the SPEC's
/// words (`online`, `offline`, `unknown`).
pub const SCHEMA: &str = "
-- One row per transition, in the order serve saw them (id). A first sighting has
-- from_state NULL; a row that went away (its retained status cleared) has to_state NULL.
-- payload is the change line's payload as JSON text (a string, or the parsed JSON value).
CREATE TABLE IF NOT EXISTS transitions (
    id         INTEGER PRIMARY KEY,
    time_ms    INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT,
    topic      TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    retained   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS transitions_by_name ON transitions (name, time_ms);
CREATE INDEX IF NOT EXISTS transitions_by_time ON transitions (time_ms);

-- The table as it last stood, one row per client: what a restart brings back before the
-- broker has answered, and what a retained status that has not changed is checked against
-- (same state, topic and payload: since stays since_ms).
CREATE TABLE IF NOT EXISTS clients (
    name      TEXT    PRIMARY KEY,
    state     TEXT    NOT NULL,
    topic     TEXT    NOT NULL,
    payload   BLOB    NOT NULL,  -- the last payload's bytes (see payload_bytes)
    since_ms  INTEGER,
    seen_ms   INTEGER NOT NULL
) WITHOUT ROWID;

-- When serve was watching: one row per connected stretch (start_ms), end_ms moved on as it
-- goes (at least every minute, and at a clean stop). Availability counts only these
-- stretches: while nobody watched, a client's state is not known.
CREATE TABLE IF NOT EXISTS watched (
    start_ms INTEGER PRIMARY KEY,
    end_ms   INTEGER NOT NULL
);
";

/// `serve`'s default database: `$XDG_STATE_HOME/mqtt-scan/history.sqlite3`, else
/// `~/.local/state/mqtt-scan/history.sqlite3` (the XDG base directory default). None when
/// neither variable is set.
pub fn default_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("mqtt-scan").join("history.sqlite3"))
}

/// A payload as the `clients` table keeps it: a text payload's text, a JSON payload
/// re-encoded compactly. Folding these bytes again gives the same state, detail and fields.
pub fn payload_bytes(payload: &Payload) -> std::borrow::Cow<'_, [u8]> {
    match payload.to_text() {
        std::borrow::Cow::Borrowed(t) => std::borrow::Cow::Borrowed(t.as_bytes()),
        std::borrow::Cow::Owned(t) => std::borrow::Cow::Owned(t.into_bytes()),
    }
}

/// How long an open waits for another process's lock before it says the file is locked.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens `path` read-only (for `list`, `watch`, `check --db`): it must exist and be ours.
///
/// # Errors
/// One sentence naming the file and what to do (missing, not ours, corrupt, locked, newer).
pub fn open_read_only(path: &Path) -> anyhow::Result<Connection> {
    if !path.exists() {
        anyhow::bail!(
            "no history database at {} (`mqtt-scan serve --db {}` writes one)",
            path.display(),
            path.display()
        );
    }
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(path, &e))?;
    db.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db_error(path, &e))?;
    check_ours(path, &db)?;
    Ok(db)
}

/// Checks the application id and the schema version of an open database.
///
/// # Errors
/// When the file is not an mqtt-scan history database, is damaged, locked, or newer.
pub fn check_ours(path: &Path, db: &Connection) -> anyhow::Result<()> {
    let (app, version): (i64, i64) = db
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id), \
                    (SELECT user_version FROM pragma_user_version)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| db_error(path, &e))?;
    if app != APPLICATION_ID {
        anyhow::bail!(
            "{} is not an mqtt-scan history database (choose another --db)",
            path.display()
        );
    }
    if version > SCHEMA_VERSION {
        anyhow::bail!(
            "{} was written by a newer mqtt-scan (schema {version}, this one reads {SCHEMA_VERSION}): upgrade mqtt-scan",
            path.display()
        );
    }
    Ok(())
}

/// One sentence for an SQLite failure on `path`: what is wrong and what to do.
pub fn db_error(path: &Path, e: &rusqlite::Error) -> anyhow::Error {
    use rusqlite::ErrorCode;
    let shown = path.display();
    let code = e.sqlite_error_code();
    match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => anyhow::anyhow!(
            "{shown} is still locked by another process after {} s (try again when it is done, or choose another --db)",
            BUSY_TIMEOUT.as_secs()
        ),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => anyhow::anyhow!(
            "{shown} is damaged or not an SQLite database (move it aside; serve starts a new one)"
        ),
        Some(ErrorCode::CannotOpen) => anyhow::anyhow!(
            "cannot open {shown} (check that its directory exists and is writable, or choose another --db)"
        ),
        Some(ErrorCode::ReadOnly) => {
            anyhow::anyhow!("{shown} is read-only (serve needs to write it: choose another --db)")
        }
        Some(ErrorCode::DiskFull) => anyhow::anyhow!("the disk holding {shown} is full"),
        Some(ErrorCode::PermissionDenied) => {
            anyhow::anyhow!("no permission to use {shown} (choose another --db)")
        }
        _ => anyhow::anyhow!("history database {shown}: {}", reason(e)),
    }
}

/// SQLite's own words for an error, without rusqlite's Debug wrapping.
fn reason(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(msg)) => format!("{msg} ({f})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(path: &Path) -> String {
        open_read_only(path).expect_err("an error").to_string()
    }

    #[test]
    fn a_missing_file_says_which_command_writes_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.sqlite3");
        let e = error_of(&path);
        assert!(e.starts_with("no history database at "), "{e}");
        assert!(e.contains("mqtt-scan serve --db"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_called_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.sqlite3");
        std::fs::write(&path, vec![0x42_u8; 8192]).unwrap();
        let e = error_of(&path);
        assert!(e.contains("is damaged or not an SQLite database"), "{e}");
        assert!(!e.contains("SqliteFailure"), "no Debug text: {e}");
    }

    #[test]
    fn another_programs_sqlite_database_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.sqlite3");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let e = error_of(&path);
        assert!(e.contains("is not an mqtt-scan history database"), "{e}");
    }

    #[test]
    fn a_database_of_ours_opens_and_a_newer_one_asks_for_an_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ours.sqlite3");
        let db = Connection::open(&path).unwrap();
        db.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; {SCHEMA}"
        ))
        .unwrap();
        open_read_only(&path).expect("ours opens read-only");
        db.execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
            .unwrap();
        let e = error_of(&path);
        assert!(e.contains("written by a newer mqtt-scan"), "{e}");
    }

    #[test]
    fn the_default_path_is_under_the_xdg_state_directory() {
        let path = default_path().expect("HOME or XDG_STATE_HOME is set in tests");
        assert!(
            path.ends_with("mqtt-scan/history.sqlite3"),
            "{}",
            path.display()
        );
    }
}
