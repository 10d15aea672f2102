//! The only module that talks MQTT. It turns a `Connection` into rumqttc options (v3.1.1 or
//! v5), polls the event loop in its own task, subscribes on every ConnAck, and hands typed
//! events to the commands over a channel. Nothing above it sees rumqttc.

mod announce;
mod brokers;
mod client;
mod errors;
mod snapshot;
mod sniff;
mod task;
mod wildcard;

pub use announce::{local_ip, AnnounceEvent, AnnounceSpec, Announcer, MakePayload};
pub use client::Will;
pub use snapshot::SnapshotTracker;
pub use wildcard::retained_reach_wildcards;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{SubsecRound, Utc};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};

use crate::cli::MAX_DURATION;
use crate::config::Connection;
use crate::status::{Observation, Registry};
use client::{build, Client};
use errors::{refused_message, Context};

/// Brokers announce themselves here (retained); on those known to queue their retained
/// messages before a later publish (see `brokers`), the probe's return ends the snapshot
/// without a settle window.
const VERSION_TOPIC: &str = "$SYS/broker/version";
/// mosquitto's count of every retained message it holds, `$SYS` ones included.
const RETAINED_COUNT_TOPIC: &str = "$SYS/broker/retained messages/count";
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Every scanner's probes live under here; none of them is anyone's status.
const PROBE_PREFIX: &str = "mqtt-scan/probe/";

/// What the session reports.
#[derive(Debug)]
pub enum Event {
    /// CONNACK came (the first time, or after a reconnect). `session_present`: the broker
    /// kept our persistent session, with whatever was published meanwhile.
    Connected {
        session_present: bool,
    },
    /// SUBACK came; `refused` lists status filters the broker would not grant.
    Subscribed {
        refused: Vec<String>,
    },
    Message(Message),
    /// The probe came back after the retained snapshot: `ordered` when the broker is known
    /// to deliver every retained message before it.
    ProbeReturned {
        ordered: bool,
    },
    /// The connection is gone; `attempt` counts the reconnects tried so far (0 when the
    /// session will not reconnect).
    Disconnected {
        reason: String,
        attempt: u32,
    },
    /// The broker acknowledged one of our QoS 1 publishes (other than the probe).
    Acked {
        ok: bool,
    },
}

#[derive(Debug)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub retained: bool,
    /// This message's share of the queue budget, returned when the message is dropped.
    _budget: Option<OwnedSemaphorePermit>,
}

/// What to subscribe to, and whether to reconnect after a lost connection.
pub struct Spec {
    pub filters: Vec<String>,
    pub reconnect: bool,
    /// A persistent session (clean session off, QoS 1, this MQTT 5 session expiry): the
    /// broker keeps what is published while we are away. The retained snapshot is not
    /// taken over it (QoS 1 truncates large snapshots): use a second, clean session.
    pub persistent: Option<Duration>,
    /// Subscribe to all of `$SYS` (not only the version) and count its retained messages
    /// and the broker's own count of retained messages: see [`RetainedCounts`].
    pub count_retained: bool,
}

/// What the broker says it holds, next to what reached us, for `list`'s completeness
/// check. The `$SYS` side is filled in by the session task before the status SUBACK.
#[derive(Debug, Default)]
pub struct RetainedCounts {
    /// `$SYS/broker/retained messages/count` (mosquitto), when the broker has one.
    broker_total: std::sync::atomic::AtomicU64,
    has_total: std::sync::atomic::AtomicBool,
    /// Retained `$SYS` messages received (they are in the broker's count).
    sys: std::sync::atomic::AtomicU64,
}

impl RetainedCounts {
    /// The broker's count, if it sent one.
    pub fn broker_total(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Acquire;
        self.has_total
            .load(Acquire)
            .then(|| self.broker_total.load(Acquire))
    }

    pub fn sys(&self) -> u64 {
        self.sys.load(std::sync::atomic::Ordering::Acquire)
    }
}

pub struct Session {
    events: mpsc::UnboundedReceiver<Event>,
    client: Client,
    task: JoinHandle<()>,
    broker: String,
    counts: Arc<RetainedCounts>,
    /// Retained status messages received during the snapshot.
    retained_statuses: u64,
    /// A topic nobody subscribes to, for [`Client::nudge`].
    nudge_topic: String,
}

impl Session {
    /// Connects and waits for the first CONNACK (bounded by `--connect-timeout`, which
    /// covers TCP, TLS and the CONNACK). A failure here is final: there is no retry.
    pub async fn connect(conn: &Connection, spec: Spec) -> anyhow::Result<Self> {
        let (client, event_loop) = build(conn, spec.persistent, None);
        let (tx, mut events) = mpsc::unbounded_channel();
        let ctx = Context::new(conn);
        // A token of our own, not the client id: an id may hold `+` or `#`. A persistent
        // session keeps its subscriptions, so its token must not change from run to run.
        let token = if spec.persistent.is_some() {
            conn.client_id.bytes().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
        } else {
            format!("{:016x}", rand::random::<u64>())
        };
        let probe = format!("{PROBE_PREFIX}{token}");
        let nudge_topic = format!("{probe}/ack");
        let counts = Arc::new(RetainedCounts::default());
        let task = tokio::spawn(task::run(
            event_loop,
            client.clone(),
            tx,
            ctx.clone(),
            spec,
            probe,
            Arc::clone(&counts),
        ));
        let broker = conn.broker.to_string();
        match sniff::first_answer(&ctx, events.recv()).await {
            Ok(Some(Event::Connected { .. })) => Ok(Self {
                events,
                client,
                task,
                broker,
                counts,
                retained_statuses: 0,
                nudge_topic,
            }),
            Ok(Some(Event::Disconnected { reason, .. })) => Err(anyhow::anyhow!(reason)),
            Ok(_) => Err(anyhow::anyhow!(
                "the connection to {broker} ended unexpectedly"
            )),
            Err(why) => {
                task.abort();
                Err(anyhow::anyhow!(why))
            }
        }
    }

    /// The retained messages the broker reported (meaningful after [`Session::snapshot`]
    /// with `count_retained`).
    pub fn counts(&self) -> &RetainedCounts {
        &self.counts
    }

    /// Retained status messages received during [`Session::snapshot`].
    pub fn retained_statuses(&self) -> u64 {
        self.retained_statuses
    }

    /// Up to `limit` events at once (0: the session task has ended). Cancel-safe.
    pub async fn recv_many(&mut self, buf: &mut Vec<Event>, limit: usize) -> usize {
        self.events.recv_many(buf, limit).await
    }

    /// Collects the retained snapshot into `registry` (see [`SnapshotTracker`] for when it
    /// is complete). Returns whether it is.
    pub async fn snapshot(
        &mut self,
        registry: &mut Registry,
        wait: Duration,
        settle: Duration,
    ) -> anyhow::Result<bool> {
        let mut tracker = SnapshotTracker::new(wait, settle);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                n = self.events.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        anyhow::bail!("the connection to {} ended during the snapshot", self.broker);
                    }
                    let now = now_ms();
                    for event in batch.drain(..) {
                        match event {
                            Event::Message(m) => {
                                // Big payloads fold slowly: --wait holds within a batch too.
                                if tracker.expired(Instant::now()) {
                                    return Ok(false);
                                }
                                if m.retained {
                                    tracker.on_retained();
                                    self.retained_statuses += 1;
                                }
                                registry.fold(&Observation { topic: &m.topic, payload: &m.payload, retained: m.retained }, now);
                            }
                            Event::Subscribed { refused } if !refused.is_empty() => {
                                anyhow::bail!(refused_message(&refused));
                            }
                            Event::ProbeReturned { ordered } => tracker.on_probe(ordered),
                            Event::Disconnected { reason, .. } => {
                                anyhow::bail!("lost the connection during the snapshot: {reason}");
                            }
                            Event::Connected { .. } | Event::Subscribed { .. } | Event::Acked { .. } => {}
                        }
                    }
                }
                () = sleep_until(tracker.wake_at()) => {}
            }
            // Checked after every batch too: a broker that never pauses must not outlast --wait.
            if let Some(complete) = tracker.check(Instant::now()) {
                return Ok(complete);
            }
        }
    }

    /// Folds whatever arrived since the snapshot (without waiting for more).
    pub fn catch_up(&mut self, registry: &mut Registry) {
        let now = now_ms();
        while let Ok(event) = self.events.try_recv() {
            if let Event::Message(m) = event {
                registry.fold(
                    &Observation {
                        topic: &m.topic,
                        payload: &m.payload,
                        retained: m.retained,
                    },
                    now,
                );
            }
        }
    }

    /// Clears these retained messages (an empty retained publish each, QoS 1) and waits,
    /// at most `bound` in all, for the broker to acknowledge them. Returns the topics that
    /// got a new, non-empty status meanwhile (a device coming back while we cleared).
    pub async fn clear_retained(
        &mut self,
        topics: &[String],
        bound: Duration,
    ) -> anyhow::Result<Vec<String>> {
        self.publish_retained_all(topics, b"", bound).await
    }

    /// Publishes `payload` retained (QoS 1) to each topic; see [`Session::clear_retained`].
    async fn publish_retained_all(
        &mut self,
        topics: &[String],
        payload: &[u8],
        bound: Duration,
    ) -> anyhow::Result<Vec<String>> {
        let what = if payload.is_empty() {
            "clears"
        } else {
            "retained messages"
        };
        let deadline = Instant::now() + bound.min(MAX_DURATION);
        let timed_out = |acked: usize| {
            anyhow::anyhow!(
                "the broker acknowledged {acked} of {} {what} within {}",
                topics.len(),
                humantime::format_duration(bound)
            )
        };
        let mut revived = Vec::new();
        let mut acked = 0;
        // Publishing waits for room in rumqttc's queue, which frees as acknowledgements come:
        // the deadline covers it too, and the events are read while we publish.
        let mut next = 0;
        while acked < topics.len() {
            let publish = async {
                match topics.get(next) {
                    Some(t) => self.client.publish_retained(t, payload.to_vec()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                sent = publish => {
                    if !sent {
                        anyhow::bail!("the connection to {} ended while clearing", self.broker);
                    }
                    next += 1;
                }
                event = self.events.recv() => match event {
                    Some(Event::Acked { ok }) => {
                        acked += 1;
                        // mosquitto holds the next small PUBACK back until our
                        // acknowledgement of this one (see `Nudger`): carry it now.
                        if acked < topics.len() {
                            self.client.nudge(&self.nudge_topic);
                        }
                        // A refused clear stays as prune always counted it; a refused
                        // message was not stored.
                        if !ok && !payload.is_empty() {
                            anyhow::bail!("the broker refused a retained message");
                        }
                    }
                    Some(Event::Message(m)) if !m.payload.is_empty() && topics.contains(&m.topic) => revived.push(m.topic),
                    Some(Event::Disconnected { reason, .. }) => anyhow::bail!("lost the connection while clearing: {reason}"),
                    Some(_) => {}
                    None => anyhow::bail!("the connection to {} ended while clearing", self.broker),
                },
                () = sleep_until(deadline) => return Err(timed_out(acked)),
            }
        }
        Ok(revived)
    }

    /// Sends DISCONNECT and waits briefly for it to go out.
    pub async fn close(self) {
        if self.client.try_disconnect() {
            let _ = timeout(Duration::from_millis(500), self.task).await;
        } else {
            self.task.abort();
        }
    }
}

const BATCH: usize = 256;

/// The time rows record: milliseconds are all a status needs, and they read better.
pub fn now_ms() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// 0.5 s, 1 s, 2 s, ... capped at 10 s: rumqttc alone would retry in a tight loop.
pub fn backoff(attempt: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
    Duration::from_millis(ms).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_ten_seconds() {
        let got: Vec<u128> = (1..=8).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(got, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
