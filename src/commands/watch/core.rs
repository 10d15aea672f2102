//! The watcher: one live session (reconnecting, optionally persistent), the table, and the
//! re-syncs from the retained store. Both front-ends (the event stream and the terminal
//! view) drive it through `next()`, which is cancel-safe: it only awaits channel receives,
//! timers and a spawned connect, and folds synchronously after each receive.
//!
//! Plain mode: the live connection re-subscribes on every CONNACK and its retained replay
//! is the snapshot. Session mode (`--session`): the live connection is persistent (QoS 1)
//! and carries only live changes; snapshots come over a second, clean QoS 0 connection
//! ("aux"), at start (after the changes queued while we were away) and whenever the broker
//! lost our session.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::config::{Connection, Scan};
use crate::session::{self, backoff, now_ms, Event, Session, SnapshotTracker, Spec};
use crate::status::{Change, Observation, Registry, SortKey};

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
    Connected,
    Reconnecting { attempt: u32, reason: String },
}

struct Sync {
    tracker: SnapshotTracker,
    epoch: u32,
    /// Taken over the clean side connection (session mode).
    via_aux: bool,
}

pub struct Options {
    pub wait: Duration,
    pub settle: Duration,
    /// `--session NAME`: the persistent session's expiry.
    pub session_expiry: Option<Duration>,
    /// The table as the history database last had it (serve): put back before the first
    /// snapshot, which then judges it like a re-sync (what the broker no longer holds goes;
    /// a status in the same state keeps its recorded since).
    pub restore: Vec<crate::history::write::Saved>,
}

impl Options {
    /// The connection and options for `--session NAME` (the client id is the session's
    /// name) or for a clean session, from the snapshot flags.
    pub fn for_session(
        conn: &Connection,
        snapshot: &crate::cli::SnapshotArgs,
        session: Option<&str>,
        expiry: Duration,
    ) -> (Connection, Self) {
        let mut conn = conn.clone();
        if let Some(name) = session {
            name.clone_into(&mut conn.client_id);
        }
        let opts = Self {
            wait: snapshot.wait,
            settle: snapshot.settle,
            session_expiry: session.map(|_| expiry),
            restore: Vec::new(),
        };
        (conn, opts)
    }
}

pub struct Watcher {
    pub registry: Registry,
    pub link: Link,
    /// Since when the table may be out of date (connection lost, re-sync not done).
    pub stale_since: Option<DateTime<Utc>>,
    live: Session,
    sync: Option<Sync>,
    /// Before the first snapshot is done, first sightings are held back and shown
    /// together, sorted, as the snapshot.
    initial: bool,
    held_back: HashSet<String>,
    aux: Aux,
    filters: Vec<String>,
    wait: Duration,
    settle: Duration,
    buf: Vec<Event>,
    aux_buf: Vec<Event>,
    /// After an empty first snapshot through wildcards: does the broker deliver retained
    /// messages to wildcards at all (see `session::retained_reach_wildcards`)?
    blind_check: Option<JoinHandle<Option<bool>>>,
    conn: Connection,
    wildcards: bool,
}

/// Session mode's side connection and what it is doing. `conn` is None in plain mode.
#[derive(Default)]
struct Aux {
    conn: Option<Connection>,
    session: Option<Session>,
    connecting: Option<JoinHandle<anyhow::Result<Session>>>,
    retry_at: Option<Instant>,
    attempt: u32,
    /// The generation of the snapshot being prepared: it starts before the side connection
    /// does, so rows the live session refreshes meanwhile (newer than any retained copy)
    /// are known, and the snapshot leaves them alone.
    epoch: Option<u32>,
    /// Clients the live session removed while a snapshot was pending: its older retained
    /// copy must not bring them back.
    removed: HashSet<String>,
    /// At start: the changes queued for our session come first, until the live probe is
    /// back (bounded by --wait: a read-only account's probe never comes back).
    draining_until: Option<Instant>,
    /// After a reconnect to a kept session: the table is current again once the live probe
    /// is back (the queued changes are through).
    awaiting_probe: bool,
}

impl Aux {
    fn busy(&self) -> bool {
        self.session.is_some() || self.connecting.is_some()
    }
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
                count_retained: false,
            },
        )
        .await?;
        let mut registry = Registry::new(scan.sources.clone(), scan.vocab.clone());
        // Our own connection (a persistent session sees its own reconnects) is no row.
        registry.hide(&conn.client_id);
        let held_back = crate::history::write::restore(&mut registry, &opts.restore);
        let mut w = Self {
            registry,
            link: Link::Connected,
            stale_since: None,
            live,
            sync: None,
            initial: true,
            held_back,
            aux: Aux::default(),
            filters,
            wait: opts.wait,
            settle: opts.settle,
            buf: Vec::with_capacity(BATCH),
            aux_buf: Vec::new(),
            blind_check: None,
            conn: conn.clone(),
            wildcards: scan.retained_wildcards(),
        };
        if opts.session_expiry.is_some() {
            let mut side = conn.clone();
            side.client_id = crate::config::random_client_id();
            w.aux.conn = Some(side);
            w.aux.epoch = Some(w.registry.begin_sync());
            w.aux.draining_until = Some(Instant::now() + opts.wait.min(crate::cli::MAX_DURATION));
        } else {
            w.begin_live_sync();
        }
        Ok(w)
    }

    fn session_mode(&self) -> bool {
        self.aux.conn.is_some()
    }

    pub fn syncing(&self) -> bool {
        self.sync.is_some() || self.aux.busy() || self.aux.draining_until.is_some()
    }

    /// Waits for the next things to show. An error means the watch cannot go on.
    pub async fn next(&mut self) -> anyhow::Result<Vec<Happening>> {
        let mut out = Vec::new();
        loop {
            let wake = [
                self.sync.as_ref().map(|s| s.tracker.wake_at()),
                self.aux.draining_until,
                self.aux.retry_at,
            ]
            .into_iter()
            .flatten()
            .min();
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
                n = recv_aux(&mut self.aux.session, &mut aux_buf), if self.aux.session.is_some() => {
                    let now = now_ms();
                    for event in aux_buf.drain(..) {
                        self.on_aux(event, now, &mut out);
                    }
                    if n == 0 && self.aux.session.take().is_some() {
                        self.aux_failed("the snapshot connection ended", now, &mut out);
                    }
                }
                joined = join_aux(&mut self.aux.connecting), if self.aux.connecting.is_some() => {
                    self.aux.connecting = None;
                    match joined {
                        Ok(Ok(session)) => {
                            self.aux.session = Some(session);
                            self.aux.attempt = 0;
                            let epoch = self.aux.epoch.take().unwrap_or_else(|| self.registry.begin_sync());
                            self.sync = Some(Sync {
                                tracker: SnapshotTracker::new(self.wait, self.settle),
                                epoch,
                                via_aux: true,
                            });
                        }
                        Ok(Err(e)) => self.aux_failed(&format!("{e:#}"), now_ms(), &mut out),
                        // A panic: the terminal may already be restored under us. Stop.
                        Err(e) => anyhow::bail!("the snapshot task failed: {e}"),
                    }
                }
                answer = join_check(&mut self.blind_check), if self.blind_check.is_some() => {
                    self.blind_check = None;
                    if matches!(answer, Ok(Some(false))) {
                        out.push(Happening::Warning(crate::commands::blind_warning(
                            &self.conn,
                            crate::commands::Blind::LiveOnly,
                        )));
                    }
                }
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            }
            self.buf = buf;
            self.aux_buf = aux_buf;
            self.on_time(now_ms(), &mut out);
            if !out.is_empty() {
                return Ok(out);
            }
        }
    }

    pub async fn close(self) {
        if let Some(task) = self.aux.connecting {
            task.abort();
        }
        if let Some(task) = self.blind_check {
            task.abort();
        }
        if let Some(aux) = self.aux.session {
            aux.close().await;
        }
        self.live.close().await;
    }

    fn begin_live_sync(&mut self) {
        self.sync = Some(Sync {
            tracker: SnapshotTracker::new(self.wait, self.settle),
            epoch: self.registry.begin_sync(),
            via_aux: false,
        });
    }

    /// Starts a snapshot over the side connection, unless one is under way already.
    fn start_aux(&mut self) {
        let Some(conn) = self.aux.conn.clone() else {
            return;
        };
        if self.aux.busy() {
            return;
        }
        if self.aux.epoch.is_none() {
            self.aux.epoch = Some(self.registry.begin_sync());
        }
        self.aux.retry_at = None;
        let filters = self.filters.clone();
        self.aux.connecting = Some(tokio::spawn(async move {
            let spec = Spec {
                filters,
                reconnect: false,
                persistent: None,
                count_retained: false,
            };
            Session::connect(&conn, spec).await
        }));
    }

    /// The side connection failed: try again later, with the same generation (what the
    /// live session refreshed meanwhile stays newer than the store).
    fn aux_failed(&mut self, why: &str, now: DateTime<Utc>, out: &mut Vec<Happening>) {
        if let Some(sync) = self.sync.take_if(|s| s.via_aux) {
            self.aux.epoch = Some(sync.epoch);
        }
        self.aux.attempt = self.aux.attempt.saturating_add(1);
        let delay = backoff(self.aux.attempt);
        self.aux.retry_at = Some(Instant::now() + delay);
        self.stale_since.get_or_insert(now);
        out.push(Happening::Warning(format!(
            "cannot take the retained snapshot: {why}; trying again in {}",
            humantime::format_duration(delay)
        )));
    }

    fn pending_aux_snapshot(&self) -> bool {
        self.aux.epoch.is_some() || self.sync.as_ref().is_some_and(|s| s.via_aux)
    }

    fn fold(&mut self, m: &session::Message, now: DateTime<Utc>, out: &mut Vec<Happening>) {
        let obs = Observation {
            topic: &m.topic,
            payload: &m.payload,
            retained: m.retained,
        };
        let mut changes = Vec::new();
        self.registry.apply(&obs, now, &mut changes);
        for change in changes {
            self.emit(change, out);
        }
    }

    fn emit(&mut self, change: Change, out: &mut Vec<Happening>) {
        // Part of the first snapshot: shown with it, in order, once it is done. (In session
        // mode the changes queued while we were away come first, as they happened.)
        if self.initial && self.aux.draining_until.is_none() {
            if change.from.is_none() {
                self.held_back.insert(change.name);
                return;
            }
            if self.held_back.contains(&change.name) {
                if change.to.is_none() {
                    self.held_back.remove(&change.name);
                }
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
                if !self.session_mode() {
                    // A clean session lost everything: re-sync from its own subscription.
                    self.begin_live_sync();
                } else if self.aux.draining_until.is_none() {
                    if session_present {
                        self.aux.awaiting_probe = true;
                    } else {
                        self.start_aux();
                    }
                }
            }
            Event::Subscribed { refused } if !refused.is_empty() => {
                anyhow::bail!(
                    "the broker refused the subscription to {}: check this user's ACL",
                    refused.join(", ")
                );
            }
            Event::Subscribed { .. } | Event::Acked { .. } => {}
            Event::Message(m) => {
                if m.retained {
                    // A persistent session's subscription replays the retained store (MQTT
                    // 3.1.1 cannot ask it not to): older news, truncated at QoS 1. The clean
                    // side connection has the snapshot.
                    if self.session_mode() {
                        return Ok(());
                    }
                    if let Some(sync) = self.sync.as_mut() {
                        sync.tracker.on_retained();
                    }
                }
                if let Some(name) = self.registry.name_of(&m.topic) {
                    if self.pending_aux_snapshot() {
                        if m.payload.is_empty() {
                            self.aux.removed.insert(name.into_owned());
                        } else {
                            self.aux.removed.remove(name.as_ref());
                        }
                    }
                }
                self.fold(&m, now, out);
            }
            Event::ProbeReturned { ordered } => {
                if self.aux.draining_until.take().is_some() {
                    // Everything queued for our session has arrived: now the snapshot.
                    self.start_aux();
                } else if self.aux.awaiting_probe {
                    self.aux.awaiting_probe = false;
                    if !self.pending_aux_snapshot() && !self.aux.busy() {
                        self.stale_since = None;
                    }
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
                self.aux.awaiting_probe = false;
                // A sync over the lost connection is void; one over the side connection
                // may finish.
                self.sync.take_if(|s| !s.via_aux);
            }
        }
        Ok(())
    }

    fn on_aux(&mut self, event: Event, now: DateTime<Utc>, out: &mut Vec<Happening>) {
        match event {
            Event::Message(m) => {
                let Some(sync) = self.sync.as_mut().filter(|s| s.via_aux) else {
                    return;
                };
                if m.retained {
                    sync.tracker.on_retained();
                }
                let epoch = sync.epoch;
                // The live session already brought something newer for this client.
                let newer = self.registry.epoch_of(&m.topic) == Some(epoch)
                    || self
                        .registry
                        .name_of(&m.topic)
                        .is_some_and(|n| self.aux.removed.contains(n.as_ref()));
                if !newer {
                    self.fold(&m, now, out);
                }
            }
            Event::ProbeReturned { ordered } => {
                if let Some(sync) = self.sync.as_mut().filter(|s| s.via_aux) {
                    sync.tracker.on_probe(ordered);
                }
            }
            Event::Disconnected { reason, .. } => {
                self.aux.session = None;
                self.aux_failed(&reason, now, out);
            }
            Event::Connected { .. } | Event::Subscribed { .. } | Event::Acked { .. } => {}
        }
    }

    /// Deadlines: the queue drain, a due retry, a finished sync.
    fn on_time(&mut self, now: DateTime<Utc>, out: &mut Vec<Happening>) {
        let instant = Instant::now();
        if self.aux.draining_until.is_some_and(|d| instant >= d) {
            // The probe did not come back (a read-only account): snapshot anyway.
            self.aux.draining_until = None;
            self.start_aux();
        }
        if self.aux.retry_at.is_some_and(|r| instant >= r) {
            self.start_aux();
        }
        let Some(complete) = self.sync.as_ref().and_then(|s| s.tracker.check(instant)) else {
            return;
        };
        let Some(sync) = self.sync.take() else { return };
        if complete {
            // What the store no longer holds was cleared while we were away (or during an
            // interrupted first snapshot: then it was never shown, and is dropped quietly).
            for gone in self.registry.sweep(sync.epoch, now) {
                if !(self.initial && self.held_back.remove(&gone.name)) {
                    out.push(Happening::Change(gone));
                }
            }
            if self.link == Link::Connected && !self.aux.awaiting_probe {
                self.stale_since = None;
            }
        } else {
            out.push(Happening::Warning(format!(
                "the snapshot may be incomplete: --wait {} ended before the broker finished sending retained messages",
                humantime::format_duration(self.wait)
            )));
        }
        if sync.via_aux {
            self.aux.removed.clear();
            if let Some(aux) = self.aux.session.take() {
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
        if complete && self.wildcards && self.registry.is_empty() {
            let (conn, wait, settle) = (self.conn.clone(), self.wait, self.settle);
            self.blind_check = Some(tokio::spawn(async move {
                session::retained_reach_wildcards(&conn, wait, settle).await
            }));
        }
        let held = std::mem::take(&mut self.held_back);
        let rows = self
            .registry
            .rows(SortKey::Name, None)
            .into_iter()
            .filter(|r| held.contains(&*r.name))
            .map(|r| Change::sighting(r, now))
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
) -> Result<anyhow::Result<Session>, tokio::task::JoinError> {
    match task {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}

async fn join_check(
    task: &mut Option<JoinHandle<Option<bool>>>,
) -> Result<Option<bool>, tokio::task::JoinError> {
    match task {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}
