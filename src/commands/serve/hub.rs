//! The driver's side of `serve`: what the watcher's happenings become (metrics, the
//! per-client transitions, readiness, the event stream), and the answers to the HTTP side's
//! requests. It runs in the one task that owns the [`Watcher`], between its `next()`s, so it
//! reads the table without a lock; the HTTP handlers ask it over a channel.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, oneshot, watch};

use super::metrics::Metrics;
use super::rendered::{Pieces, Rendered};
use crate::cli::EventFormat;
use crate::commands::watch::core::{Happening, Link, Watcher};
use crate::commands::watch::stream::{self, Output};
use crate::history::write::Writer;
use crate::render::{self, json};
use crate::status::{Change, Payload, Registry, Row, SortKey, State};

/// Event-stream batches kept for SSE readers that fall behind (each batch is what one
/// `next()` returned: at most a few hundred lines, or the first snapshot).
pub const STREAM_BATCHES: usize = 256;

/// The stream's lines are `watch --format jsonl`'s.
const JSONL: Output = Output {
    format: EventFormat::Jsonl,
    color: false,
};

/// A batch of event lines (compact JSON, each ending in a newline: `watch --format
/// jsonl`'s bytes), how many, and the sequence number of its first.
#[derive(Debug)]
pub struct Batch {
    pub first: u64,
    pub count: u64,
    pub text: String,
}

impl Batch {
    /// The lines `watch --format jsonl` wrote into `buf`.
    fn new(first: u64, buf: Vec<u8>) -> Self {
        let count = buf.split(|&b| b == b'\n').count() as u64 - 1;
        Self {
            first,
            count,
            // serde_json writes UTF-8.
            text: String::from_utf8(buf).unwrap_or_default(),
        }
    }
}

/// What `/readyz` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: String,
}

/// A question from the HTTP side.
pub enum Request {
    /// `/api/clients`: the `list --format json` document.
    Clients {
        sort: SortKey,
        only: Option<State>,
        reply: oneshot::Sender<Pieces>,
    },
    /// `/api/clients/{name}`: the row and its last `limit` transitions, None for an
    /// unknown name.
    Client {
        name: String,
        limit: usize,
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    /// `/api/events`: the table so far as first sightings (once the first snapshot is
    /// done), and the stream from there on.
    Subscribe {
        reply: oneshot::Sender<(Batch, broadcast::Receiver<Arc<Batch>>)>,
    },
    /// `/metrics`: bring the totals up to date.
    Refresh { reply: oneshot::Sender<()> },
}

pub struct Hub {
    broker: String,
    topics: Vec<String>,
    metrics: Metrics,
    stream: broadcast::Sender<Arc<Batch>>,
    /// The number of the next event line.
    seq: u64,
    ready: watch::Sender<Readiness>,
    /// Without a history database: the last transitions per client, in memory.
    transitions: HashMap<Box<str>, VecDeque<Transition>>,
    keep: usize,
    history: Option<Writer>,
    /// `/api/clients`' rows as last rendered, per sort and filter, at one version of the
    /// table (a quiet fleet's scrapes render only the document's head).
    rendered: Rendered,
    /// The first snapshot is done (and whether it was complete).
    first: Option<bool>,
}

impl Hub {
    pub fn new(
        broker: String,
        topics: Vec<String>,
        metrics: Metrics,
        keep: usize,
        history: Option<Writer>,
    ) -> (Self, watch::Receiver<Readiness>) {
        let (ready, ready_rx) = watch::channel(Readiness {
            ready: false,
            reason: format!("connecting to {broker}"),
        });
        let (stream, _) = broadcast::channel(STREAM_BATCHES);
        let hub = Self {
            broker,
            topics,
            metrics,
            stream,
            seq: 0,
            ready,
            transitions: HashMap::new(),
            keep: if history.is_some() { 0 } else { keep },
            history,
            rendered: Rendered::default(),
            first: None,
        };
        (hub, ready_rx)
    }

    /// The watcher is connected: the first snapshot is under way.
    pub fn connected(&mut self) {
        self.metrics.set_broker_up(true);
        self.set_ready(false, "waiting for the first retained snapshot".into());
    }

    /// What one `next()` brought: recorded in the history database (committed before
    /// anything of it is shown), then the lines `watch --format jsonl` would write for it,
    /// in one buffer, as one batch of the stream.
    ///
    /// # Errors
    /// When the history database cannot be written.
    pub fn on_happenings(&mut self, w: &Watcher, happenings: &[Happening]) -> anyhow::Result<()> {
        if let Some(db) = self.history.as_mut() {
            record(db, &w.registry, happenings)?;
        }
        let mut buf = Vec::with_capacity(256 * happenings.len());
        for h in happenings {
            // Writing to memory cannot fail.
            let _ = stream::write(&mut buf, h, &JSONL);
            match h {
                Happening::Change(c) => self.on_change(c, &w.registry),
                Happening::Snapshot { rows, complete } => {
                    self.first = Some(*complete);
                    for c in rows {
                        self.on_change(c, &w.registry);
                    }
                }
                Happening::Broker { connected, .. } => self.metrics.set_broker_up(*connected),
                Happening::Warning(_) => {}
            }
        }
        if !buf.is_empty() {
            let batch = Batch::new(self.seq, buf);
            self.seq += batch.count;
            // No reader: nothing to keep.
            let _ = self.stream.send(Arc::new(batch));
        }
        self.tick(w)
    }

    /// After each batch and on a clock: readiness, and the history's watched time (a
    /// stretch starts the moment the table is current) and retention.
    ///
    /// # Errors
    /// When the history database cannot be written.
    pub fn tick(&mut self, w: &Watcher) -> anyhow::Result<()> {
        self.update_readiness(w);
        let current = self.first.is_some() && w.link == Link::Connected && w.stale_since.is_none();
        match self.history.as_mut() {
            Some(db) => db.tick(current, crate::session::now_ms()),
            None => Ok(()),
        }
    }

    /// At a clean stop: the watched time ends now.
    pub fn close(self) {
        if let Some(db) = self.history {
            db.close(crate::session::now_ms());
        }
    }

    fn on_change(&mut self, c: &Change, registry: &Registry) {
        self.metrics.on_change(&c.name, registry.get(&c.name));
        if c.to.is_none() {
            self.transitions.remove(c.name.as_str());
        } else if self.keep > 0 {
            let kept = self
                .transitions
                .entry(c.name.as_str().into())
                .or_insert_with(|| VecDeque::with_capacity(1));
            if kept.len() >= self.keep {
                kept.pop_front();
            }
            kept.push_back(Transition {
                time: c.time,
                from: c.from,
                to: c.to,
                topic: c.topic.as_str().into(),
                payload: c.payload.clone(),
                retained: c.retained,
            });
        }
    }

    /// `/readyz` from the watcher's state: connected, first snapshot done, not stale.
    pub fn update_readiness(&mut self, w: &Watcher) {
        let (ready, reason) = match (&w.link, self.first) {
            (Link::Reconnecting { attempt, reason }, _) => (
                false,
                format!(
                    "disconnected from {}: {reason} (reconnecting, attempt {attempt})",
                    self.broker
                ),
            ),
            (Link::Connected, None) => (false, "waiting for the first retained snapshot".into()),
            (Link::Connected, Some(_)) if w.stale_since.is_some() => (
                false,
                "taking the retained snapshot again after a reconnect".into(),
            ),
            (Link::Connected, Some(_)) => (true, "connected, snapshot done".into()),
        };
        self.set_ready(ready, reason);
    }

    fn set_ready(&mut self, ready: bool, reason: String) {
        self.ready.send_if_modified(|r| {
            let changed = r.ready != ready || r.reason != reason;
            *r = Readiness { ready, reason };
            changed
        });
    }

    /// Answers one request from the table as it is (`w` None: not connected yet).
    ///
    /// # Errors
    /// When the history database cannot be read.
    pub fn answer(
        &mut self,
        req: Request,
        w: Option<&Watcher>,
        empty: &Registry,
    ) -> anyhow::Result<()> {
        let registry = w.map_or(empty, |w| &w.registry);
        match req {
            Request::Clients { sort, only, reply } => {
                let complete =
                    self.first == Some(true) && w.is_some_and(|w| w.stale_since.is_none());
                let _ = reply.send(self.document(registry, sort, only, complete));
            }
            Request::Client { name, limit, reply } => {
                let doc = match registry.get(&name) {
                    Some(row) => Some(self.client(row, limit)?),
                    None => None,
                };
                let _ = reply.send(doc);
            }
            Request::Subscribe { reply } => {
                let buf = if self.first.is_some() {
                    snapshot_lines(registry)
                } else {
                    // Before the first snapshot, its rows are still held back: they come
                    // through the stream with it.
                    Vec::new()
                };
                let batch = Batch::new(self.seq, buf);
                let _ = reply.send((batch, self.stream.subscribe()));
            }
            Request::Refresh { reply } => {
                self.metrics.refresh(registry);
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    fn document(
        &mut self,
        registry: &Registry,
        sort: SortKey,
        only: Option<State>,
        complete: bool,
    ) -> Pieces {
        let scan = render::Scan {
            broker: &self.broker,
            topics: &self.topics,
            scanned_at: crate::session::now_ms(),
            complete,
            summary: registry.summary(),
            clients: Vec::new(),
        };
        let mut head = Vec::with_capacity(1024);
        json::head(&scan, &mut head);
        let rows = self.rendered.get(registry, sort, only);
        let mut out = Pieces {
            len: head.len() + rows.len,
            pieces: Vec::with_capacity(rows.pieces.len() + 1),
        };
        out.pieces.push(Bytes::from(head));
        out.pieces.extend(rows.pieces.iter().cloned());
        out
    }

    fn client(&self, row: &Row, limit: usize) -> anyhow::Result<Vec<u8>> {
        #[derive(Serialize)]
        struct Client<'a> {
            client: &'a Row,
            transitions: Vec<Change>,
        }
        let transitions = match &self.history {
            Some(db) => db.transitions(&row.name, limit)?,
            None => self
                .transitions
                .get(&*row.name)
                .map(|t| {
                    let skip = t.len().saturating_sub(limit);
                    t.iter().skip(skip).map(|t| t.change(&row.name)).collect()
                })
                .unwrap_or_default(),
        };
        let mut out = Vec::new();
        let _ = json::line(
            &mut out,
            &Client {
                client: row,
                transitions,
            },
        );
        Ok(out)
    }

    /// The lagged-reader counter, for the HTTP side.
    pub fn lagged_counter(&self) -> prometheus_client::metrics::counter::Counter {
        self.metrics.lagged.clone()
    }
}

/// A change as kept per client: the change line without the name (the key), in less room
/// (at 100,000 clients every byte here is 100 kB).
struct Transition {
    time: DateTime<Utc>,
    from: Option<State>,
    to: Option<State>,
    topic: Box<str>,
    payload: Payload,
    retained: bool,
}

impl Transition {
    fn change(&self, name: &str) -> Change {
        Change {
            time: self.time,
            name: name.to_owned(),
            from: self.from,
            to: self.to,
            topic: self.topic.to_string(),
            payload: self.payload.clone(),
            retained: self.retained,
        }
    }
}

/// One batch of happenings as one transaction (none when it holds no change).
fn record(db: &mut Writer, registry: &Registry, happenings: &[Happening]) -> anyhow::Result<()> {
    let writes = |h: &Happening| matches!(h, Happening::Change(_) | Happening::Snapshot { .. });
    if !happenings.iter().any(writes) {
        return Ok(());
    }
    let now = crate::session::now_ms();
    let batch = db.batch()?;
    for h in happenings {
        match h {
            Happening::Change(c) => batch.change(c, registry)?,
            Happening::Snapshot { rows, complete } => {
                batch.snapshot(rows, *complete, registry, now)?;
            }
            Happening::Broker { .. } | Happening::Warning(_) => {}
        }
    }
    batch.commit()
}

/// The table as first sightings, by name: how `watch --format jsonl` starts.
fn snapshot_lines(registry: &Registry) -> Vec<u8> {
    let now = crate::session::now_ms();
    let rows = registry.rows(SortKey::Name, None);
    let mut buf = Vec::with_capacity(256 * rows.len());
    for r in rows {
        // Writing to memory cannot fail.
        let _ = json::line(&mut buf, &Change::sighting(r, now));
    }
    buf
}
