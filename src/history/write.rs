//! Writing the history database: `serve` is its one writer. Each batch of happenings (what
//! one `next()` of the watcher returned) is one transaction, committed before anything of
//! it is shown over HTTP: what the API acknowledged is on disk (WAL, `synchronous=NORMAL`:
//! a commit survives the process being killed; only a power loss may take the last ones).

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use rusqlite::{params, Connection, TransactionBehavior};

use super::{
    check_ours, db_error, payload_bytes, APPLICATION_ID, BUSY_TIMEOUT, SCHEMA, SCHEMA_VERSION,
};
use crate::status::{Change, Payload, Registry, State};

/// How often the open `watched` stretch's end is moved on while nothing else is written.
const STRETCH_STEP_MS: i64 = 60_000;

/// Transitions deleted per step of the retention (a step per readiness tick): a long
/// backlog never holds the write lock for long.
const PRUNE_CHUNK: i64 = 5_000;

/// How often retention looks for transitions past `--keep`.
const PRUNE_EVERY_MS: i64 = 3_600_000;

/// A client as the database last knew it: what `serve` puts back in its table at start.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub name: String,
    pub state: State,
    pub topic: String,
    pub payload: Vec<u8>,
    pub since: Option<DateTime<Utc>>,
    pub seen: DateTime<Utc>,
}

pub struct Writer {
    db: Connection,
    path: PathBuf,
    /// Held while serve runs: a second serve on the same file is refused.
    _lock: File,
    keep_ms: i64,
    /// The open `watched` stretch: its start and the end last written.
    stretch: Option<(i64, i64)>,
    /// When retention last found nothing more to delete.
    pruned_at: Option<i64>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The lock file beside the database: `history.sqlite3.lock`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl Writer {
    /// Opens (creating it and its directory if need be) the database at `path` for writing.
    ///
    /// # Errors
    /// One sentence: another serve holds it, it is not ours, damaged, newer, or unwritable.
    pub fn open(path: &Path, keep: Duration) -> anyhow::Result<Self> {
        let shown = path.display();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create {} for the history database: {} (choose another --db)",
                    dir.display(),
                    crate::tls::io_reason(&e)
                )
            })?;
        }
        let lock_file = lock_path(path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_file)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open {}: {} (choose another --db)",
                    lock_file.display(),
                    crate::tls::io_reason(&e)
                )
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "{shown} is in use by another `mqtt-scan serve` (one serve per database: give this one its own --db)"
            ),
            Err(std::fs::TryLockError::Error(e)) => anyhow::bail!(
                "cannot lock {}: {}",
                lock_file.display(),
                crate::tls::io_reason(&e)
            ),
        }
        let db = Connection::open(path).map_err(|e| db_error(path, &e))?;
        db.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_error(path, &e))?;
        let fresh: bool = db
            .query_row(
                "SELECT (SELECT application_id FROM pragma_application_id) = 0 \
                    AND NOT EXISTS (SELECT 1 FROM sqlite_schema)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| db_error(path, &e))?;
        if fresh {
            db.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
            ))
            .map_err(|e| db_error(path, &e))?;
        } else {
            check_ours(path, &db)?;
        }
        // WAL: readers (list --db, the availability) never wait for the writer.
        let mode: String = db
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| db_error(path, &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            anyhow::bail!("{shown} cannot use write-ahead logging (journal mode {mode}): choose a --db on a local file system");
        }
        db.execute_batch(&format!("PRAGMA synchronous = NORMAL; {SCHEMA}"))
            .map_err(|e| db_error(path, &e))?;
        Ok(Self {
            db,
            path: path.to_owned(),
            _lock: lock,
            keep_ms: i64::try_from(keep.as_millis()).unwrap_or(i64::MAX),
            stretch: None,
            pruned_at: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, e: &rusqlite::Error) -> anyhow::Error {
        db_error(&self.path, e)
    }

    /// The table as it last stood.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn load(&self) -> anyhow::Result<Vec<Saved>> {
        let read = || -> rusqlite::Result<Vec<Saved>> {
            let mut stmt = self.db.prepare(
                "SELECT name, state, topic, payload, since_ms, seen_ms FROM clients ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                let state: String = r.get(1)?;
                Ok(Saved {
                    name: r.get(0)?,
                    state: State::from_str(&state, true).unwrap_or(State::Unknown),
                    topic: r.get(2)?,
                    payload: r.get(3)?,
                    since: r.get::<_, Option<i64>>(4)?.map(time),
                    seen: time(r.get(5)?),
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| self.fail(&e))
    }

    /// Starts the transaction for one batch.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn batch(&mut self) -> anyhow::Result<Batch<'_>> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(&self.path, &e))?;
        Ok(Batch {
            tx,
            path: &self.path,
        })
    }

    /// On a clock: the `watched` stretch (open while `current`, the table up to date) and
    /// a step of the retention.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn tick(&mut self, current: bool, now: DateTime<Utc>) -> anyhow::Result<()> {
        let now = ms(now);
        let step = || -> rusqlite::Result<Option<(i64, i64)>> {
            match (self.stretch, current) {
                (None, true) => {
                    self.db.execute(
                        "INSERT OR REPLACE INTO watched (start_ms, end_ms) VALUES (?1, ?1)",
                        [now],
                    )?;
                    Ok(Some((now, now)))
                }
                (Some((start, end)), true) if now - end >= STRETCH_STEP_MS => {
                    self.end_stretch(start, now)?;
                    Ok(Some((start, now)))
                }
                (Some((start, _)), false) => {
                    self.end_stretch(start, now)?;
                    Ok(None)
                }
                (stretch, _) => Ok(stretch),
            }
        };
        self.stretch = step().map_err(|e| self.fail(&e))?;
        if self.pruned_at.is_none_or(|at| now - at >= PRUNE_EVERY_MS) {
            let cutoff = now.saturating_sub(self.keep_ms);
            let deleted = self
                .db
                .execute(
                    "DELETE FROM transitions WHERE id IN \
                     (SELECT id FROM transitions WHERE time_ms < ?1 ORDER BY time_ms LIMIT ?2)",
                    params![cutoff, PRUNE_CHUNK],
                )
                .and_then(|n| {
                    self.db
                        .execute("DELETE FROM watched WHERE end_ms < ?1", [cutoff])
                        .map(|_| n)
                })
                .map_err(|e| self.fail(&e))?;
            if i64::try_from(deleted).unwrap_or(i64::MAX) < PRUNE_CHUNK {
                self.pruned_at = Some(now);
            }
        }
        Ok(())
    }

    fn end_stretch(&self, start: i64, end: i64) -> rusqlite::Result<usize> {
        self.db.execute(
            "UPDATE watched SET end_ms = ?2 WHERE start_ms = ?1",
            [start, end],
        )
    }

    /// At a clean stop: the stretch ends now.
    pub fn close(mut self, now: DateTime<Utc>) {
        let _ = self.tick(false, now);
    }

    /// The last `limit` transitions of `name`, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn transitions(&self, name: &str, limit: usize) -> anyhow::Result<Vec<Change>> {
        let read = || -> rusqlite::Result<Vec<Change>> {
            let mut stmt = self.db.prepare_cached(
                "SELECT time_ms, from_state, to_state, topic, payload, retained FROM transitions \
                 WHERE name = ?1 ORDER BY time_ms DESC, id DESC LIMIT ?2",
            )?;
            let state = |s: Option<String>| s.and_then(|s| State::from_str(&s, true).ok());
            let mut out = stmt
                .query_map(
                    params![name, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| {
                        let payload: String = r.get(4)?;
                        Ok(Change {
                            time: time(r.get(0)?),
                            name: name.to_owned(),
                            from: state(r.get(1)?),
                            to: state(r.get(2)?),
                            topic: r.get(3)?,
                            payload: payload_from_json(&payload),
                            retained: r.get(5)?,
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            out.reverse();
            Ok(out)
        };
        read().map_err(|e| self.fail(&e))
    }
}

/// Puts saved rows back in a new table (folding their payloads again, then their recorded
/// since): the names put back, for the watcher to show with its first snapshot. A saved
/// row its payload no longer makes (a source gone from the command line) stays out.
pub fn restore(registry: &mut Registry, saved: &[Saved]) -> HashSet<String> {
    let mut names = HashSet::with_capacity(saved.len());
    let mut scratch = Vec::new();
    for s in saved {
        let obs = crate::status::Observation {
            topic: &s.topic,
            payload: &s.payload,
            // A status retained by its convention is judged by the coming snapshot (gone
            // from the store: gone), however it was seen last time; an event is not.
            retained: registry.retained_by_convention(&s.topic),
        };
        registry.apply(&obs, s.seen, &mut scratch);
        scratch.clear();
        if registry.set_since(&s.name, s.since) {
            names.insert(s.name.clone());
        }
    }
    names
}

/// A change line's payload back from its JSON text.
fn payload_from_json(text: &str) -> Payload {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::String(s)) => Payload::Text(s.into()),
        Ok(v) => Payload::Json(Box::new(v)),
        Err(_) => Payload::Text(text.into()),
    }
}

/// One batch's transaction.
pub struct Batch<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl Batch<'_> {
    fn fail(&self, e: &rusqlite::Error) -> anyhow::Error {
        db_error(self.path, e)
    }

    fn insert(&self, c: &Change, from: Option<&str>) -> rusqlite::Result<usize> {
        let payload = serde_json::to_string(&c.payload).unwrap_or_default();
        self.tx
            .prepare_cached(
                "INSERT INTO transitions (time_ms, name, from_state, to_state, topic, payload, retained) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                ms(c.time),
                c.name,
                from,
                c.to.map(State::as_str),
                c.topic,
                payload,
                c.retained
            ])
    }

    /// The `clients` row of `name` as the table has it now (removed when it has none).
    fn store(&self, name: &str, registry: &Registry) -> rusqlite::Result<usize> {
        match registry.get(name) {
            Some(row) => self
                .tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO clients (name, state, topic, payload, since_ms, seen_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    name,
                    row.state.as_str(),
                    &*row.topic,
                    payload_bytes(&row.payload).as_ref(),
                    row.since.map(ms),
                    ms(row.last_seen)
                ]),
            None => self
                .tx
                .prepare_cached("DELETE FROM clients WHERE name = ?1")?
                .execute([name]),
        }
    }

    /// A change the watcher reported.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn change(&self, c: &Change, registry: &Registry) -> anyhow::Result<()> {
        self.insert(c, c.from.map(State::as_str))
            .and_then(|_| self.store(&c.name, registry))
            .map(|_| ())
            .map_err(|e| self.fail(&e))
    }

    /// The first snapshot, against the table the database had: a client in another state
    /// changed while serve was away, one it did not have is a first sighting and, when the
    /// snapshot is complete, one it had that the broker no longer holds went away.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn snapshot(
        &self,
        rows: &[Change],
        complete: bool,
        registry: &Registry,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let diff = || -> rusqlite::Result<()> {
            let mut saved: HashMap<String, (String, String)> = HashMap::new();
            {
                let mut stmt = self.tx.prepare("SELECT name, state, topic FROM clients")?;
                let mut q = stmt.query([])?;
                while let Some(r) = q.next()? {
                    saved.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
                }
            }
            let mut seen = HashSet::with_capacity(rows.len());
            for c in rows {
                seen.insert(c.name.as_str());
                let before = saved.get(&c.name).map(|(state, _)| state.as_str());
                if before != c.to.map(State::as_str) {
                    self.insert(c, before)?;
                }
                self.store(&c.name, registry)?;
            }
            if complete {
                for (name, (state, topic)) in &saved {
                    if seen.contains(name.as_str()) || registry.get(name).is_some() {
                        continue;
                    }
                    let gone = Change {
                        time: now,
                        name: name.clone(),
                        from: None,
                        to: None,
                        topic: topic.clone(),
                        payload: Payload::Text("".into()),
                        retained: false,
                    };
                    self.insert(&gone, Some(state))?;
                    self.store(name, registry)?;
                }
            }
            Ok(())
        };
        diff().map_err(|e| self.fail(&e))
    }

    /// Makes the batch durable.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn commit(self) -> anyhow::Result<()> {
        let path = self.path;
        self.tx.commit().map_err(|e| db_error(path, &e))
    }
}
