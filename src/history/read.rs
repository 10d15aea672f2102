//! Reading the history database: `list`, `watch` and `check --db` fill `since` from it,
//! and `serve`'s `/api/availability` counts each client's online time in it.

use std::collections::{BTreeMap, HashMap};

use chrono::DateTime;
use rusqlite::{params, Connection};

use super::{db_error, open_read_only, payload_bytes};
use crate::status::{Registry, SortKey};

/// `--db FILE` of `list`, `watch` and `check`: the history database, read-only.
pub struct Filler {
    path: std::path::PathBuf,
    db: Connection,
}

impl Filler {
    /// # Errors
    /// One sentence: missing, not ours, damaged, locked, newer.
    pub fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        Ok(Self {
            db: open_read_only(path)?,
            path: path.to_owned(),
        })
    }

    /// [`fill_since`] on this database.
    ///
    /// # Errors
    /// When the database cannot be read (one sentence).
    pub fn fill(&self, registry: &mut Registry) -> anyhow::Result<usize> {
        fill_since(&self.db, registry).map_err(|e| db_error(&self.path, &e))
    }
}

/// What the database last knew of a client, as far as filling `since` goes.
struct Known {
    state: String,
    topic: String,
    payload: Vec<u8>,
    since_ms: i64,
}

/// Fills `since` for every row that has none (a retained status without a time in it)
/// from the database's `clients` row of the same name, when that row says the same state
/// on the same topic with the same payload: then the status has not changed since the
/// writer recorded when it came. Returns how many rows it filled.
///
/// # Errors
/// When the database cannot be read.
pub fn fill_since(db: &Connection, registry: &mut Registry) -> rusqlite::Result<usize> {
    let mut known: HashMap<String, Known> = HashMap::new();
    {
        let mut stmt = db.prepare(
            "SELECT name, state, topic, payload, since_ms FROM clients WHERE since_ms IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            known.insert(
                r.get(0)?,
                Known {
                    state: r.get(1)?,
                    topic: r.get(2)?,
                    payload: r.get(3)?,
                    since_ms: r.get(4)?,
                },
            );
        }
    }
    if known.is_empty() {
        return Ok(0);
    }
    let fill: Vec<(String, i64)> = registry
        .rows(SortKey::Name, None)
        .into_iter()
        .filter(|row| row.since.is_none())
        .filter_map(|row| {
            let k = known.get(&*row.name)?;
            let same = k.state == row.state.as_str()
                && k.topic == *row.topic
                && k.payload == *payload_bytes(&row.payload);
            same.then(|| (row.name.to_string(), k.since_ms))
        })
        .collect();
    for (name, since) in &fill {
        registry.set_since(name, DateTime::from_timestamp_millis(*since));
    }
    Ok(fill.len())
}

/// A `watched` stretch whose end is this recent is taken to be the one serve is in now
/// (its writer moves the end on at least every minute): it runs to now.
const OPEN_STRETCH_MS: i64 = 90_000;

/// A stretch of time, milliseconds.
type Span = (i64, i64);

/// A client's state (online or not; None: not known) as the widest window begins, and its
/// transitions in it: when, and to what.
type Timeline = (Option<bool>, Vec<(i64, Option<bool>)>);

/// How much of `[from, to)` lies inside the (sorted, disjoint) `watched` stretches.
fn watched_within(watched: &[Span], from: i64, to: i64) -> i64 {
    if to <= from {
        return 0;
    }
    let first = watched.partition_point(|&(_, end)| end <= from);
    watched[first..]
        .iter()
        .take_while(|&&(start, _)| start < to)
        .map(|&(start, end)| end.min(to) - start.max(from))
        .filter(|&d| d > 0)
        .sum()
}

/// For every client in the table, per window (milliseconds back from `now_ms`): the share
/// of the time serve was watching (the `watched` stretches) and knew the client's state
/// during which it was online. Time before a client's first recorded transition, and after
/// its status went away, is not known and not counted. None where none of the window's
/// watched time is known for the client. A client whose status says unknown (a payload
/// that says neither) counts as not online.
///
/// One ordered scan of the windows' transitions (by name and time) and one indexed look-up
/// per client for its state when the longest window begins.
///
/// # Errors
/// When the database cannot be read.
pub fn availability(
    db: &Connection,
    now_ms: i64,
    windows_ms: &[i64],
) -> anyhow::Result<BTreeMap<String, Vec<Option<f64>>>> {
    let widest = windows_ms.iter().copied().max().unwrap_or(0);
    let begin = now_ms.saturating_sub(widest);
    let watched: Vec<Span> = {
        let mut stmt = db.prepare(
            "SELECT start_ms, end_ms FROM watched WHERE end_ms > ?1 AND start_ms < ?2 ORDER BY start_ms",
        )?;
        let spans = stmt.query_map(params![begin, now_ms], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut merged: Vec<Span> = Vec::new();
        for span in spans {
            let (start, end): Span = span?;
            let (start, end) = (start.max(begin), end.min(now_ms));
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ if end >= start => merged.push((start, end)),
                _ => {}
            }
        }
        // The stretch serve is in now: its end is written only every minute or so.
        if let Some(last) = merged
            .last_mut()
            .filter(|l| l.1 >= now_ms - OPEN_STRETCH_MS)
        {
            last.1 = now_ms;
        }
        merged
    };
    // Each client's state as the widest window begins (None: not known then).
    let mut timelines: BTreeMap<String, Timeline> = {
        let mut stmt = db.prepare(
            "SELECT c.name, (SELECT to_state FROM transitions t \
                WHERE t.name = c.name AND t.time_ms < ?1 ORDER BY t.time_ms DESC, t.id DESC LIMIT 1) \
             FROM clients c",
        )?;
        let rows = stmt.query_map([begin], |r| {
            let state: Option<String> = r.get(1)?;
            Ok((r.get::<_, String>(0)?, state.map(|s| s == "online")))
        })?;
        rows.map(|r| r.map(|(name, state)| (name, (state, Vec::new()))))
            .collect::<rusqlite::Result<_>>()?
    };
    {
        let mut stmt = db.prepare(
            "SELECT name, time_ms, to_state FROM transitions \
             WHERE time_ms >= ?1 AND time_ms <= ?2 ORDER BY name, time_ms, id",
        )?;
        let mut rows = stmt.query(params![begin, now_ms])?;
        while let Some(r) = rows.next()? {
            let name: String = r.get(0)?;
            if let Some((_, events)) = timelines.get_mut(&name) {
                let to: Option<String> = r.get(2)?;
                events.push((r.get(1)?, to.map(|s| s == "online")));
            }
        }
    }
    let out = timelines
        .into_iter()
        .map(|(name, (initial, events))| {
            let shares = windows_ms
                .iter()
                .map(|w| {
                    share(
                        &watched,
                        initial,
                        &events,
                        now_ms.saturating_sub(*w),
                        now_ms,
                    )
                })
                .collect();
            (name, shares)
        })
        .collect();
    Ok(out)
}

/// One client's share of `[from, to)`: `initial` is its state (online or not; None: not
/// known) before the first of `events`, which are sorted by time.
fn share(
    watched: &[Span],
    initial: Option<bool>,
    events: &[(i64, Option<bool>)],
    from: i64,
    to: i64,
) -> Option<f64> {
    let (mut known, mut online) = (0_i64, 0_i64);
    let mut state = initial;
    let mut at = i64::MIN;
    let mut segment = |start: i64, end: i64, state: Option<bool>| {
        let Some(up) = state else { return };
        let d = watched_within(watched, start.max(from), end.min(to));
        known += d;
        if up {
            online += d;
        }
    };
    for &(time, to_state) in events {
        segment(at, time, state);
        at = time;
        state = to_state;
    }
    segment(at, to, state);
    #[allow(clippy::cast_precision_loss)] // milliseconds: exact far beyond any window
    (known > 0).then(|| online as f64 / known as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{APPLICATION_ID, SCHEMA, SCHEMA_VERSION};

    const H: i64 = 3_600_000;

    fn db() -> Connection {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; {SCHEMA}"
        ))
        .unwrap();
        db
    }

    fn client(db: &Connection, name: &str) {
        db.execute(
            "INSERT INTO clients (name, state, topic, payload, since_ms, seen_ms) VALUES (?1, 'online', 't', x'31', NULL, 0)",
            [name],
        )
        .unwrap();
    }

    fn transition(db: &Connection, name: &str, time: i64, to: Option<&str>) {
        db.execute(
            "INSERT INTO transitions (time_ms, name, from_state, to_state, topic, payload, retained) VALUES (?1, ?2, NULL, ?3, 't', '\"1\"', 0)",
            params![time, name, to],
        )
        .unwrap();
    }

    fn watched(db: &Connection, start: i64, end: i64) {
        db.execute(
            "INSERT INTO watched (start_ms, end_ms) VALUES (?1, ?2)",
            [start, end],
        )
        .unwrap();
    }

    const NOW: i64 = 1_000 * H;

    fn shares(db: &Connection) -> BTreeMap<String, Vec<Option<f64>>> {
        availability(db, NOW, &[24 * H, 7 * 24 * H]).unwrap()
    }

    #[test]
    fn online_half_the_watched_time_is_one_half() {
        let db = db();
        client(&db, "a");
        watched(&db, NOW - 10 * H, NOW);
        transition(&db, "a", NOW - 10 * H, Some("online"));
        transition(&db, "a", NOW - 5 * H, Some("offline"));
        assert_eq!(shares(&db)["a"], [Some(0.5), Some(0.5)]);
    }

    #[test]
    fn time_nobody_watched_is_not_counted() {
        let db = db();
        client(&db, "a");
        // Watched 2 h online, then a gap of 6 h (offline, unseen), then 2 h offline.
        watched(&db, NOW - 10 * H, NOW - 8 * H);
        watched(&db, NOW - 2 * H, NOW);
        transition(&db, "a", NOW - 10 * H, Some("online"));
        transition(&db, "a", NOW - 8 * H, Some("offline"));
        assert_eq!(shares(&db)["a"], [Some(0.5), Some(0.5)]);
    }

    #[test]
    fn a_client_first_seen_mid_window_counts_from_then_and_the_state_before_a_window_carries_in() {
        let db = db();
        client(&db, "late");
        client(&db, "old");
        watched(&db, NOW - 200 * H, NOW);
        transition(&db, "late", NOW - 4 * H, Some("online"));
        transition(&db, "late", NOW - H, Some("offline"));
        // Online since long before either window, offline for the last 12 hours.
        transition(&db, "old", NOW - 500 * H, Some("online"));
        transition(&db, "old", NOW - 12 * H, Some("offline"));
        let s = shares(&db);
        assert_eq!(s["late"], [Some(0.75), Some(0.75)]);
        assert_eq!(s["old"][0], Some(0.5));
        let week = s["old"][1].unwrap();
        assert!((week - 156.0 / 168.0).abs() < 1e-9, "{week}");
    }

    #[test]
    fn gone_is_not_known_and_no_watched_time_is_none() {
        let db = db();
        client(&db, "a");
        client(&db, "unwatched");
        watched(&db, NOW - 4 * H, NOW);
        transition(&db, "a", NOW - 4 * H, Some("online"));
        transition(&db, "a", NOW - 3 * H, None);
        transition(&db, "a", NOW - H, Some("offline"));
        transition(&db, "unwatched", NOW - 300 * H, Some("online"));
        let s = shares(&db);
        // 1 h online, 2 h gone (not counted), 1 h offline.
        assert_eq!(s["a"], [Some(0.5), Some(0.5)]);
        let db2 = self::db();
        client(&db2, "x");
        transition(&db2, "x", NOW - H, Some("online"));
        assert_eq!(shares(&db2)["x"], [None, None]);
    }

    #[test]
    fn since_is_filled_only_for_the_same_state_topic_and_payload() {
        use crate::status::{Observation, Pattern, Source, Vocabulary};
        let db = db();
        for (name, state, payload) in [
            ("same", "online", "1"),
            ("other-payload", "online", "on"),
            ("other-state", "offline", "1"),
        ] {
            db.execute(
                "INSERT INTO clients (name, state, topic, payload, since_ms, seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                params![name, state, format!("s/{name}"), payload.as_bytes(), 42_000],
            )
            .unwrap();
        }
        let mut r = Registry::new(
            vec![Source::topic(Pattern::parse("s/+").unwrap())],
            Vocabulary::default(),
        );
        let now = DateTime::from_timestamp_millis(NOW).unwrap();
        for name in ["same", "other-payload", "other-state", "unknown-to-db"] {
            let topic = format!("s/{name}");
            r.fold(
                &Observation {
                    topic: &topic,
                    payload: b"1",
                    retained: true,
                },
                now,
            );
        }
        assert_eq!(fill_since(&db, &mut r).unwrap(), 1);
        assert_eq!(
            r.get("same").unwrap().since,
            DateTime::from_timestamp_millis(42_000)
        );
        for name in ["other-payload", "other-state", "unknown-to-db"] {
            assert_eq!(r.get(name).unwrap().since, None, "{name}");
        }
    }
}
