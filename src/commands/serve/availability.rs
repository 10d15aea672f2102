//! `GET /api/availability`: each client's share of the watched time it was online, over the
//! last 24 hours and 7 days, from the history database. Computed off the driver task (a
//! blocking thread with a read-only connection of its own: WAL readers never wait for the
//! writer), at most once a minute; requests in between get the same document.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Mutex;

/// How long a computed document is served before the next request computes it again.
pub const FRESH_FOR: Duration = Duration::from_secs(60);

/// The windows, by the names the document gives them.
const WINDOWS: [(&str, i64); 2] = [("24h", 86_400_000), ("7d", 7 * 86_400_000)];

pub struct Cache {
    path: PathBuf,
    last: Mutex<Option<(Instant, Bytes)>>,
}

impl Cache {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            last: Mutex::new(None),
        }
    }

    /// The document: the cached one while fresh, else computed now (one computation at a
    /// time; requests meanwhile wait for it).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn document(&self) -> anyhow::Result<Bytes> {
        let mut last = self.last.lock().await;
        if let Some((at, doc)) = last.as_ref() {
            if at.elapsed() < FRESH_FOR {
                return Ok(doc.clone());
            }
        }
        let path = self.path.clone();
        let doc = tokio::task::spawn_blocking(move || compute(&path))
            .await
            .map_err(|e| anyhow::anyhow!("the availability computation failed: {e}"))??;
        *last = Some((Instant::now(), doc.clone()));
        Ok(doc)
    }
}

fn compute(path: &std::path::Path) -> anyhow::Result<Bytes> {
    #[derive(Serialize)]
    struct Doc<'a> {
        generated_at: String,
        windows: Vec<&'a str>,
        clients: serde_json::Map<String, serde_json::Value>,
    }
    let db = crate::history::open_read_only(path)?;
    let now = chrono::Utc::now();
    let windows: Vec<i64> = WINDOWS.iter().map(|(_, w)| *w).collect();
    let shares = crate::history::read::availability(&db, now.timestamp_millis(), &windows)?;
    let clients = shares
        .into_iter()
        .map(|(name, values)| {
            let per: serde_json::Map<String, serde_json::Value> = WINDOWS
                .iter()
                .zip(values)
                .map(|((label, _), v)| ((*label).to_owned(), serde_json::json!(v)))
                .collect();
            (name, serde_json::Value::Object(per))
        })
        .collect();
    let doc = Doc {
        generated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        windows: WINDOWS.iter().map(|(l, _)| *l).collect(),
        clients,
    };
    let mut out = Vec::new();
    crate::render::json::line(&mut out, &doc)?;
    Ok(Bytes::from(out))
}
