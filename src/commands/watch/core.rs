//! The watcher: one live session (reconnecting, optionally persistent), the table, and the
//! re-syncs from the retained store. Both front-ends (the event stream and the terminal
//! view) drive it through `next()`, which is cancel-safe: it only awaits channel receives,
//! timers and a spawned connect, and folds synchronously after each receive.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::config::{Connection, Scan};
use crate::session::{self, now_ms, Event, Session, SnapshotTracker, Spec};
use crate::status::{Change, Observation, Registry};

const BATCH: usize = 256;

/// What a front-end shows.
#[derive(Debug)]
pub enum Happening {
    Change(Change),
    /// The broker connection dropped (`connected` false) or came back.
    Broker {
        time: DateTime<Utc>,
        connected: bool,
        reason: Option<String>,
    },
    /// The first snapshot is done: every client it found, as first sightings, by name.
    Snapshot {
        rows: Vec<Change>,
        complete: bool,
    },
    Warning(String),
}

/// The connection as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Connected,
    Reconnecting { attempt: u32, reason: String },
}

struct Sync {
    tracker: SnapshotTracker,
    epoch: u32,
    /// Taken over the second, clean connection (persistent-session mode).
    via_aux: bool,
}

pub struct Watcher {
    pub registry: Registry,
    pub link: Link,
    /// Since when the table may be out of date (connection lost, re-sync not done).
    pub stale_since: Option<DateTime<Utc>>,
    live: Session,
    aux: Option<Session>,
    aux_connecting: Option<JoinHandle<anyhow::Result<Session>>>,
    sync: Option<Sync>,
    /// Before the first snapshot is done, first sightings are held back and shown
    /// together, sorted, as the snapshot.
    initial: bool,
    held_back: HashSet<String>,
    /// Persistent-session mode: the clean connection that takes the snapshots.
    snapshot_conn: Option<Connection>,
    /// Persistent-session mode, at start: waiting for the changes queued while we were
    /// away (they come before the live probe returns) before taking the snapshot.
    draining_queue: bool,
    /// Persistent-session mode: the generation of the snapshot being prepared. It starts
    /// before the snapshot connection does, so rows the live session refreshes meanwhile
    /// (newer than any retained copy) are known and the snapshot leaves them alone.
    aux_epoch: Option<u32>,
    filters: Vec<String>,
    wait: Duration,
    settle: Duration,
    buf: Vec<Event>,
    aux_buf: Vec<Event>,
}

pub struct Options {
    pub wait: Duration,
    pub settle: Duration,
    /// `--session NAME`: the persistent session's expiry.
    pub session_expiry: Option<Duration>,
}

impl Watcher {
    /// Connects (a failure here is final) and starts the first sync.
    pub async fn start(conn: &Connection, scan: &Scan, opts: &Options) -> anyhow::Result<Self> {
        let filters = scan.filters();
        let live = Session::connect(
            conn,
            Spec {
                filters: filters.clone(),
                reconnect: true,
                persistent: opts.session_expiry,
            },
        )
        .await?;
        let snapshot_conn = opts.session_expiry.map(|_| {
            let mut c = conn.clone();
            c.client_id = format!("mqtt-scan-{:016x}", session::random_u64());
            c
        });
        let mut w = Self {
            registry: Registry::new(scan.sources.clone(), scan.vocab.clone()),
            link: Link::Connected,
            stale_since: None,
            live,
            aux: None,
            aux_connecting: None,
            sync: None,
            initial: true,
            held_back: HashSet::new(),
            draining_queue: snapshot_conn.is_some(),
            aux_epoch: None,
            snapshot_conn,
            filters,
            wait: opts.wait,
            settle: opts.settle,
            buf: Vec::with_capacity(BATCH),
            aux_buf: Vec::new(),
        };
        if w.draining_queue {
            w.aux_epoch = Some(w.registry.begin_sync());
        } else {
            w.begin_sync();
        }
        Ok(w)
    }

    pub fn syncing(&self) -> bool {
        self.sync.is_some() || self.aux_connecting.is_some() || self.draining_queue
    }

    /// Waits for the next things to show. An error means the watch cannot go on.
    pub async fn next(&mut self) -> anyhow::Result<Vec<Happening>> {
        let mut out = Vec::new();
        loop {
            let wake = self.sync.as_ref().map(|s| s.tracker.wake_at());
            let mut buf = std::mem::take(&mut self.buf);
            let mut aux_buf = std::mem::take(&mut self.aux_buf);
            tokio::select! {
                n = self.live.recv_many(&mut buf, BATCH) => {
                    if n == 0 {
                        anyhow::bail!("the connection task ended unexpectedly");
                    }
                    let now = now_ms();
                    for event in buf.drain(..) {
                        self.on_live(event, now, &mut out)?;
                    }
                }
                n = recv_aux(&mut self.aux, &mut aux_buf), if self.aux.is_some() => {
                    let now = now_ms();
                    if n == 0 {
                        self.aux = None;
                    }
                    for event in aux_buf.drain(..) {
                        self.on_aux(event, now, &mut out);
                    }
                }
                joined = join_aux(&mut self.aux_connecting), if self.aux_connecting.is_some() => {
                    self.aux_connecting = None;
                    match joined {
                        Ok(session) => {
                            self.aux = Some(session);
                            let epoch = self.aux_epoch.take().unwrap_or_else(|| self.registry.begin_sync());
                            self.sync = Some(Sync {
                                tracker: SnapshotTracker::new(self.wait, self.settle),
                                epoch,
                                via_aux: true,
                            });
                        }
                        Err(e) => {
                            out.push(Happening::Warning(format!("cannot take the retained snapshot: {e:#}")));
                            self.finish_initial(false, now_ms(), &mut out);
                        }
                    }
                }
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            }
            self.buf = buf;
            self.aux_buf = aux_buf;
            self.check_sync(now_ms(), &mut out);
            if !out.is_empty() {
                return Ok(out);
            }
        }
    }

    pub async fn close(self) {
        if let Some(aux) = self.aux {
            aux.close().await;
        }
        if let Some(task) = self.aux_connecting {
            task.abort();
        }
        self.live.close().await;
    }

    fn begin_sync(&mut self) {
        self.sync = Some(Sync {
            tracker: SnapshotTracker::new(self.wait, self.settle),
            epoch: self.registry.begin_sync(),
            via_aux: false,
        });
    }

    fn start_aux(&mut self) {
        if let Some(conn) = self.snapshot_conn.clone() {
            if self.aux_epoch.is_none() {
                self.aux_epoch = Some(self.registry.begin_sync());
            }
            let filters = self.filters.clone();
            self.aux_connecting = Some(tokio::spawn(async move {
                Session::connect(
                    &conn,
                    Spec {
                        filters,
                        reconnect: false,
                        persistent: None,
                    },
                )
                .await
            }));
        }
    }

    fn fold(&mut self, m: &session::Message, now: DateTime<Utc>, out: &mut Vec<Happening>) {
        let obs = Observation {
            topic: &m.topic,
            payload: &m.payload,
            retained: m.retained,
        };
        let Some(change) = self.registry.apply(&obs, now) else {
            return;
        };
        if self.initial && self.sync.is_some() {
            // Part of the first snapshot: shown with it, in order, once it is done.
            if change.from.is_none() {
                self.held_back.insert(change.name);
                return;
            }
            if self.held_back.contains(&change.name) {
                return;
            }
        }
        out.push(Happening::Change(change));
    }

    fn on_live(
        &mut self,
        event: Event,
        now: DateTime<Utc>,
        out: &mut Vec<Happening>,
    ) -> anyhow::Result<()> {
        match event {
            Event::Connected { session_present } => {
                if matches!(self.link, Link::Reconnecting { .. }) {
                    out.push(Happening::Broker {
                        time: now,
                        connected: true,
                        reason: None,
                    });
                }
                self.link = Link::Connected;
                match &self.snapshot_conn {
                    // A clean session lost everything: re-sync from its own subscription.
                    None => self.begin_sync(),
                    // A kept session delivers what we missed; a lost one needs a snapshot.
                    Some(_) if !session_present && !self.draining_queue => self.start_aux(),
                    Some(_) => {}
                }
            }
            Event::Subscribed { refused } if !refused.is_empty() => {
                anyhow::bail!(
                    "the broker refused the subscription to {}: check this user's ACL",
                    refused.join(", ")
                );
            }
            Event::Subscribed { .. } => {}
            Event::Message(m) => {
                if m.retained {
                    // A persistent session's subscription replays the retained store (MQTT
                    // 3.1.1 cannot ask it not to) after the changes queued for us: older
                    // news, and truncated at QoS 1. The clean snapshot connection has it.
                    if self.snapshot_conn.is_some() {
                        return Ok(());
                    }
                    if let Some(sync) = self.sync.as_mut() {
                        sync.tracker.on_retained();
                    }
                }
                self.fold(&m, now, out);
            }
            Event::ProbeReturned { ordered } => {
                if self.draining_queue {
                    // Everything queued for our session has arrived: now the snapshot.
                    self.draining_queue = false;
                    self.start_aux();
                } else if let Some(sync) = self.sync.as_mut().filter(|s| !s.via_aux) {
                    sync.tracker.on_probe(ordered);
                }
            }
            Event::Disconnected { reason, attempt } => {
                if self.link == Link::Connected {
                    out.push(Happening::Broker {
                        time: now,
                        connected: false,
                        reason: Some(reason.clone()),
                    });
                }
                self.stale_since.get_or_insert(now);
                self.link = Link::Reconnecting { attempt, reason };
                // A sync over the lost connection is void; one over the clean side
                // connection may finish.
                if self.sync.as_ref().is_some_and(|s| !s.via_aux) {
                    self.sync = None;
                }
            }
        }
        Ok(())
    }

    fn on_aux(&mut self, event: Event, now: DateTime<Utc>, out: &mut Vec<Happening>) {
        match event {
            Event::Message(m) => {
                let Some(sync) = self.sync.as_mut() else {
                    return;
                };
                if m.retained {
                    sync.tracker.on_retained();
                }
                // The live session already brought something newer for this client.
                if self.registry.epoch_of(&m.topic) == Some(sync.epoch) {
                    return;
                }
                self.fold(&m, now, out);
            }
            Event::ProbeReturned { ordered } => {
                if let Some(sync) = self.sync.as_mut() {
                    sync.tracker.on_probe(ordered);
                }
            }
            Event::Disconnected { reason, .. } => {
                self.aux = None;
                if self.sync.take().is_some() {
                    out.push(Happening::Warning(format!(
                        "the snapshot connection was lost: {reason}"
                    )));
                    self.finish_initial(false, now, out);
                }
            }
            Event::Connected { .. } | Event::Subscribed { .. } => {}
        }
    }

    fn check_sync(&mut self, now: DateTime<Utc>, out: &mut Vec<Happening>) {
        let Some(complete) = self
            .sync
            .as_ref()
            .and_then(|s| s.tracker.check(Instant::now()))
        else {
            return;
        };
        let Some(sync) = self.sync.take() else {
            return;
        };
        if complete {
            // What the store no longer holds was cleared while we were away.
            if !self.initial {
                out.extend(
                    self.registry
                        .sweep(sync.epoch, now)
                        .into_iter()
                        .map(Happening::Change),
                );
            }
            if self.link == Link::Connected {
                self.stale_since = None;
            }
        } else {
            out.push(Happening::Warning(format!(
                "the snapshot may be incomplete: --wait {} ended before the broker finished sending retained messages",
                humantime::format_duration(self.wait)
            )));
        }
        if sync.via_aux {
            if let Some(aux) = self.aux.take() {
                tokio::spawn(aux.close());
            }
        }
        self.finish_initial(complete, now, out);
    }

    /// Ends the first snapshot (once): the held-back first sightings, by name.
    fn finish_initial(&mut self, complete: bool, now: DateTime<Utc>, out: &mut Vec<Happening>) {
        if !self.initial {
            return;
        }
        self.initial = false;
        let held = std::mem::take(&mut self.held_back);
        let rows = self
            .registry
            .rows(crate::status::SortKey::Name, None)
            .into_iter()
            .filter(|r| held.contains(&*r.name))
            .map(|r| Change {
                time: now,
                name: r.name.to_string(),
                from: None,
                to: Some(r.state),
                topic: r.topic.to_string(),
                payload: r.payload.clone(),
                retained: r.retained,
            })
            .collect();
        out.push(Happening::Snapshot { rows, complete });
    }

    /// Counts for the header.
    pub fn counts(&self) -> crate::status::Summary {
        self.registry.summary()
    }
}

async fn recv_aux(aux: &mut Option<Session>, buf: &mut Vec<Event>) -> usize {
    match aux {
        Some(s) => s.recv_many(buf, BATCH).await,
        None => std::future::pending().await,
    }
}

async fn join_aux(
    task: &mut Option<JoinHandle<anyhow::Result<Session>>>,
) -> anyhow::Result<Session> {
    match task {
        Some(t) => t
            .await
            .map_err(|e| anyhow::anyhow!("the snapshot task failed: {e}"))?,
        None => std::future::pending().await,
    }
}
