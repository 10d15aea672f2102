//! Reading the history database: `list`, `watch` and `check --db` fill `since` from it,
//! and `serve`'s `/api/availability` counts each client's online time in it.

use std::collections::BTreeMap;

use rusqlite::Connection;

/// For every client in the table, per window (milliseconds back from `now_ms`): its share
/// of the watched time it was online. (Stub: the reader branch brings it.)
///
/// # Errors
/// When the database cannot be read.
pub fn availability(
    _db: &Connection,
    _now_ms: i64,
    _windows_ms: &[i64],
) -> anyhow::Result<BTreeMap<String, Vec<Option<f64>>>> {
    Ok(BTreeMap::new())
}
