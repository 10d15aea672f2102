//! The only module that talks MQTT. It turns a `Connection` into rumqttc options (v3.1.1 or
//! v5), polls the event loop in its own task, subscribes on every ConnAck, and hands typed
//! events to the commands over a channel. Nothing above it sees rumqttc.

mod announce;

pub use announce::{local_ip, AnnounceEvent, AnnounceSpec, Announcer, MakePayload};

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use chrono::{SubsecRound, Utc};
use rumqttc::v5;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout, Instant};

use crate::cli::{MqttVersion, MAX_DURATION};
use crate::config::Connection;
use crate::status::{escape, Observation, Pattern, Registry};

/// Largest packet MQTT can carry; rumqttc's 10 KiB default would drop big statuses.
const MAX_INCOMING: usize = 268_435_455;
const MAX_OUTGOING: usize = 1 << 20;
/// mosquitto announces itself here (retained); it queues retained messages before a later
/// publish, so on mosquitto the probe's return ends the snapshot without a settle window.
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
}

#[derive(Clone)]
enum Client {
    V4(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

enum EventLoop {
    V4(Box<rumqttc::EventLoop>),
    V5(Box<v5::EventLoop>),
}

/// An event-loop step, the same for both protocol versions.
enum Net {
    ConnAck {
        session_present: bool,
    },
    /// A PUBACK; `ok` false when the broker refused the publish (MQTT 5 reason codes).
    PubAck {
        pkid: u16,
        ok: bool,
    },
    /// A PUBLISH of ours went out with this packet id.
    PublishSent {
        pkid: u16,
    },
    SubAck(Vec<bool>),
    Publish {
        topic: String,
        payload: Bytes,
        retain: bool,
    },
    Disconnecting,
    Other,
}

/// What error messages need to know about the connection.
struct Context {
    host: String,
    host_port: String,
    client_id: String,
    connect_timeout: Duration,
    tls: bool,
    version: MqttVersion,
}

impl Context {
    fn new(conn: &Connection) -> Self {
        Self {
            host: conn.broker.host.clone(),
            host_port: conn.broker.host_port(),
            client_id: conn.client_id.clone(),
            connect_timeout: conn.connect_timeout,
            tls: conn.broker.scheme.is_tls(),
            version: conn.version,
        }
    }
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
            format!("{:016x}", random_u64())
        };
        let probe = format!("{PROBE_PREFIX}{token}");
        let counts = Arc::new(RetainedCounts::default());
        let task = tokio::spawn(run(
            event_loop,
            client.clone(),
            tx,
            ctx,
            spec,
            probe,
            Arc::clone(&counts),
        ));
        let broker = conn.broker.to_string();
        match timeout(conn.connect_timeout, events.recv()).await {
            Ok(Some(Event::Connected { .. })) => Ok(Self {
                events,
                client,
                task,
                broker,
                counts,
                retained_statuses: 0,
            }),
            Ok(Some(Event::Disconnected { reason, .. })) => Err(anyhow::anyhow!(reason)),
            Ok(_) => Err(anyhow::anyhow!(
                "the connection to {broker} ended unexpectedly"
            )),
            Err(_) => {
                task.abort();
                Err(anyhow::anyhow!(timeout_message(&Context::new(conn))))
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
        let deadline = Instant::now() + bound.min(MAX_DURATION);
        let timed_out = |acked: usize| {
            anyhow::anyhow!(
                "the broker acknowledged {acked} of {} clears within {}",
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
                match (&self.client, topics.get(next)) {
                    (Client::V4(c), Some(t)) => c
                        .publish(t.as_str(), rumqttc::QoS::AtLeastOnce, true, "")
                        .await
                        .is_ok(),
                    (Client::V5(c), Some(t)) => c
                        .publish(t.as_str(), v5::mqttbytes::QoS::AtLeastOnce, true, "")
                        .await
                        .is_ok(),
                    (_, None) => std::future::pending().await,
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
                    Some(Event::Acked { .. }) => acked += 1,
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
        let sent = match &self.client {
            Client::V4(c) => c.try_disconnect().is_ok(),
            Client::V5(c) => c.try_disconnect().is_ok(),
        };
        if sent {
            let _ = timeout(Duration::from_millis(500), self.task).await;
        } else {
            self.task.abort();
        }
    }
}

/// What the session task may queue ahead of the command, in KiB of messages (a message
/// costs 1 + its size in KiB): enough to absorb a snapshot burst while the fold catches
/// up, bounded when a broker sends big payloads faster than we can fold them (then TCP
/// pushes back and the broker queues).
const QUEUE_KIB: usize = 64 * 1024;
const BATCH: usize = 256;

/// Decides when the retained snapshot is complete: the SUBACK has come, the probe has come
/// back, and `settle` has passed with no retained message (skipped when the broker is known
/// to deliver its retained messages before the probe); `wait` bounds it all.
#[derive(Debug, Clone)]
pub struct SnapshotTracker {
    deadline: Instant,
    settle: Duration,
    probe_at: Option<Instant>,
    last_retained: Instant,
    ordered: bool,
}

impl SnapshotTracker {
    pub fn new(wait: Duration, settle: Duration) -> Self {
        let now = Instant::now();
        Self {
            deadline: now + wait.min(MAX_DURATION),
            settle: settle.min(MAX_DURATION),
            probe_at: None,
            last_retained: now,
            ordered: false,
        }
    }

    pub fn on_retained(&mut self) {
        self.last_retained = Instant::now();
    }

    pub fn on_probe(&mut self, ordered: bool) {
        self.probe_at = Some(Instant::now());
        self.ordered = ordered;
    }

    fn quiet_until(&self) -> Option<Instant> {
        self.probe_at
            .map(|p| p.max(self.last_retained) + self.settle)
    }

    /// When to look again if nothing arrives.
    pub fn wake_at(&self) -> Instant {
        self.quiet_until()
            .map_or(self.deadline, |q| q.min(self.deadline))
    }

    pub fn expired(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// `Some(true)`: complete; `Some(false)`: `wait` ran out first; `None`: keep going.
    pub fn check(&self, now: Instant) -> Option<bool> {
        if self.probe_at.is_some() && self.ordered {
            return Some(true);
        }
        if self.quiet_until().is_some_and(|q| now >= q) {
            return Some(true);
        }
        (now >= self.deadline).then_some(false)
    }
}

fn refused_message(filters: &[String]) -> String {
    format!(
        "the broker refused the subscription to {}: check this user's ACL",
        filters
            .iter()
            .map(|f| format!("'{}'", escape(f)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A Last Will: the broker publishes it (retained, QoS 1) if we vanish without DISCONNECT.
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
}

fn build(
    conn: &Connection,
    persistent: Option<Duration>,
    will: Option<&Will>,
) -> (Client, EventLoop) {
    let host = if conn.broker.scheme.is_websocket() {
        // rumqttc takes the whole URL as the host for WebSockets.
        conn.broker.websocket_url()
    } else {
        conn.broker.host.clone()
    };
    let port = conn.broker.port;
    let net_timeout = conn.connect_timeout.as_secs().max(1).saturating_add(1);
    let transport = match (&conn.tls, conn.broker.scheme.is_websocket()) {
        (None, false) => rumqttc::Transport::Tcp,
        (None, true) => rumqttc::Transport::Ws,
        (Some(cfg), false) => {
            rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Rustls(cfg.clone()))
        }
        (Some(cfg), true) => {
            rumqttc::Transport::Wss(rumqttc::TlsConfiguration::Rustls(cfg.clone()))
        }
    };
    match conn.version {
        MqttVersion::V311 => {
            let mut o = rumqttc::MqttOptions::new(conn.client_id.clone(), host, port);
            o.set_keep_alive(conn.keepalive)
                .set_max_packet_size(MAX_INCOMING, MAX_OUTGOING)
                .set_transport(transport)
                .set_clean_session(persistent.is_none());
            if let Some(w) = will {
                o.set_last_will(rumqttc::LastWill::new(
                    w.topic.clone(),
                    w.payload.clone(),
                    rumqttc::QoS::AtLeastOnce,
                    true,
                ));
            }
            if let Some(user) = &conn.username {
                o.set_credentials(
                    user.clone(),
                    conn.password.as_ref().map_or("", |p| p.expose()),
                );
            }
            let (client, mut event_loop) = rumqttc::AsyncClient::new(o, 64);
            event_loop.set_network_options(network_options(net_timeout));
            (Client::V4(client), EventLoop::V4(Box::new(event_loop)))
        }
        MqttVersion::V5 => {
            let mut o = v5::MqttOptions::new(conn.client_id.clone(), host, port);
            o.set_keep_alive(conn.keepalive)
                .set_max_packet_size(Some(u32::try_from(MAX_INCOMING).unwrap_or(u32::MAX)))
                .set_transport(transport)
                .set_clean_start(persistent.is_none())
                .set_network_options(network_options(net_timeout));
            if let Some(w) = will {
                o.set_last_will(v5::mqttbytes::v5::LastWill::new(
                    w.topic.clone(),
                    w.payload.clone(),
                    v5::mqttbytes::QoS::AtLeastOnce,
                    true,
                    None,
                ));
            }
            if let Some(expiry) = persistent {
                o.set_session_expiry_interval(Some(
                    u32::try_from(expiry.as_secs()).unwrap_or(u32::MAX),
                ));
            }
            if let Some(user) = &conn.username {
                o.set_credentials(
                    user.clone(),
                    conn.password.as_ref().map_or("", |p| p.expose()),
                );
            }
            let (client, event_loop) = v5::AsyncClient::new(o, 64);
            (Client::V5(client), EventLoop::V5(Box::new(event_loop)))
        }
    }
}

/// Our packets are small and come in exchanges (SUBSCRIBE after SUBACK, the probe after
/// that): with Nagle's algorithm on, each waits ~40 ms for a delayed ACK.
fn network_options(timeout_secs: u64) -> rumqttc::NetworkOptions {
    let mut net = rumqttc::NetworkOptions::new();
    net.set_connection_timeout(timeout_secs)
        .set_tcp_nodelay(true);
    net
}

impl Client {
    /// The first `n_status` filters are the status filters: QoS 1 in a persistent session
    /// (and, on MQTT 5, without retained messages: the snapshot comes from a clean
    /// session); everything else at QoS 0.
    fn subscribe(&self, filters: &[String], n_status: usize, persistent: bool) -> bool {
        let qos1 = |i: usize| persistent && i < n_status;
        match self {
            Client::V4(c) => c
                .try_subscribe_many(filters.iter().enumerate().map(|(i, f)| {
                    let qos = if qos1(i) {
                        rumqttc::QoS::AtLeastOnce
                    } else {
                        rumqttc::QoS::AtMostOnce
                    };
                    rumqttc::SubscribeFilter::new(f.clone(), qos)
                }))
                .is_ok(),
            Client::V5(c) => c
                .try_subscribe_many(filters.iter().enumerate().map(|(i, f)| {
                    use v5::mqttbytes::v5::{Filter, RetainForwardRule};
                    let qos = if qos1(i) {
                        v5::mqttbytes::QoS::AtLeastOnce
                    } else {
                        v5::mqttbytes::QoS::AtMostOnce
                    };
                    let mut filter = Filter::new(f.clone(), qos);
                    if qos1(i) {
                        filter.retain_forward_rule = RetainForwardRule::Never;
                    }
                    filter
                }))
                .is_ok(),
        }
    }

    fn publish_probe(&self, topic: &str) -> bool {
        match self {
            Client::V4(c) => c
                .try_publish(topic, rumqttc::QoS::AtLeastOnce, false, "probe")
                .is_ok(),
            Client::V5(c) => c
                .try_publish(topic, v5::mqttbytes::QoS::AtLeastOnce, false, "probe")
                .is_ok(),
        }
    }

    /// A QoS 0 message that asks for no answer: it only carries our acknowledgement.
    fn nudge(&self, topic: &str) {
        // A full request queue only means the acknowledgement waits: harmless.
        let _ = match self {
            Client::V4(c) => c
                .try_publish(topic, rumqttc::QoS::AtMostOnce, false, "")
                .is_ok(),
            Client::V5(c) => c
                .try_publish(topic, v5::mqttbytes::QoS::AtMostOnce, false, "")
                .is_ok(),
        };
    }
}

/// Keeps mosquitto from stalling the snapshot's last steps. mosquitto leaves Nagle's
/// algorithm on: after one small packet it holds the next back until we acknowledge the
/// first, and the kernel delays an acknowledgement that has nothing to ride on by up to
/// 40 ms. While the probe is out, whenever nothing has arrived for a millisecond, a QoS 0
/// message to a topic nobody subscribes to carries the acknowledgement at once (nothing
/// comes back, which would stall the same way). A steady stream never pauses, so a large
/// snapshot sends few.
struct Nudger {
    state: Arc<NudgeState>,
}

#[derive(Default)]
struct NudgeState {
    armed: std::sync::atomic::AtomicBool,
    /// Packets received: the nudger acts when this stops moving.
    seen: std::sync::atomic::AtomicU64,
    closed: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl Nudger {
    const QUIET: Duration = Duration::from_millis(1);

    fn spawn(client: Client, topic: String) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let state = Arc::new(NudgeState::default());
        let s = Arc::clone(&state);
        tokio::spawn(async move {
            let mut nudged_at = None;
            while !s.closed.load(Relaxed) {
                if !s.armed.load(Relaxed) {
                    s.wake.notified().await;
                    continue;
                }
                let before = s.seen.load(Relaxed);
                sleep(Self::QUIET).await;
                let now = s.seen.load(Relaxed);
                // Quiet for a whole step, and not nudged yet in this pause.
                if s.armed.load(Relaxed) && now == before && nudged_at != Some(now) {
                    client.nudge(&topic);
                    nudged_at = Some(now);
                }
            }
        });
        Self { state }
    }

    fn arm(&self, on: bool) {
        self.state
            .armed
            .store(on, std::sync::atomic::Ordering::Relaxed);
        if on {
            self.state.wake.notify_one();
        }
    }

    fn saw_packet(&self) {
        self.state
            .seen
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Nudger {
    fn drop(&mut self) {
        self.state
            .closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.state.wake.notify_one();
    }
}

impl EventLoop {
    async fn poll(&mut self, ctx: &Context, connected: bool) -> Result<Net, String> {
        match self {
            EventLoop::V4(l) => match l.poll().await {
                Ok(rumqttc::Event::Incoming(p)) => Ok(match p {
                    rumqttc::Packet::ConnAck(c) => Net::ConnAck {
                        session_present: c.session_present,
                    },
                    rumqttc::Packet::SubAck(s) => Net::SubAck(
                        s.return_codes
                            .iter()
                            .map(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)))
                            .collect(),
                    ),
                    rumqttc::Packet::Publish(p) => Net::Publish {
                        topic: p.topic,
                        payload: p.payload,
                        retain: p.retain,
                    },
                    rumqttc::Packet::PubAck(a) => Net::PubAck {
                        pkid: a.pkid,
                        ok: true,
                    },
                    _ => Net::Other,
                }),
                Ok(rumqttc::Event::Outgoing(o)) => Ok(outgoing(&o)),
                Err(e) => Err(describe_v4(&e, ctx, connected)),
            },
            EventLoop::V5(l) => match l.poll().await {
                Ok(v5::Event::Incoming(p)) => Ok(match p {
                    v5::mqttbytes::v5::Packet::ConnAck(c) => Net::ConnAck {
                        session_present: c.session_present,
                    },
                    v5::mqttbytes::v5::Packet::SubAck(s) => Net::SubAck(
                        s.return_codes
                            .iter()
                            .map(|c| {
                                matches!(c, v5::mqttbytes::v5::SubscribeReasonCode::Success(_))
                            })
                            .collect(),
                    ),
                    v5::mqttbytes::v5::Packet::Publish(p) => Net::Publish {
                        topic: match String::from_utf8(p.topic.to_vec()) {
                            Ok(t) => t,
                            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                        },
                        payload: p.payload,
                        retain: p.retain,
                    },
                    v5::mqttbytes::v5::Packet::PubAck(a) => Net::PubAck {
                        pkid: a.pkid,
                        ok: a.reason == v5::mqttbytes::v5::PubAckReason::Success,
                    },
                    v5::mqttbytes::v5::Packet::Disconnect(d) => {
                        return Err(format!(
                            "the broker disconnected us: {}",
                            words(&format!("{:?}", d.reason_code))
                        ))
                    }
                    _ => Net::Other,
                }),
                Ok(v5::Event::Outgoing(o)) => Ok(outgoing(&o)),
                Err(e) => Err(describe_v5(&e, ctx, connected)),
            },
        }
    }
}

fn outgoing(o: &rumqttc::Outgoing) -> Net {
    match *o {
        rumqttc::Outgoing::Disconnect => Net::Disconnecting,
        rumqttc::Outgoing::Publish(pkid) => Net::PublishSent { pkid },
        _ => Net::Other,
    }
}

// One match over the event loop's steps; splitting it would scatter the state it shares.
#[allow(clippy::too_many_lines)]
async fn run(
    mut event_loop: EventLoop,
    client: Client,
    tx: mpsc::UnboundedSender<Event>,
    ctx: Context,
    spec: Spec,
    probe: String,
    counts: Arc<RetainedCounts>,
) {
    let status_patterns: Vec<Pattern> = spec
        .filters
        .iter()
        .filter_map(|f| Pattern::parse(f).ok())
        .collect();
    let is_status = |topic: &str| status_patterns.iter().any(|p| p.name(topic).is_some());
    let mut all_filters = spec.filters.clone();
    all_filters.push(probe.clone());
    let n_status = spec.filters.len();
    // `$SYS/broker/version` goes in a SUBSCRIBE of its own, first: some brokers (rumqttd)
    // hang up on a `$SYS` filter, and then we connect again without it.
    let mut sys_allowed = true;
    let mut awaiting_sys = false;

    let budget = Arc::new(Semaphore::new(QUEUE_KIB));
    let mut connected_once = false;
    let mut attempt: u32 = 0;
    let mut ordered_broker = false;
    let mut probe_ack_pending = false;
    let nudger = Nudger::spawn(client.clone(), format!("{probe}/ack"));
    loop {
        let step = event_loop.poll(&ctx, connected_once).await;
        if step.is_ok() {
            nudger.saw_packet();
        }
        let event = match step {
            Ok(Net::ConnAck { session_present }) => {
                nudger.arm(false);
                // A persistent session the broker kept since our last connection still has
                // our subscriptions: subscribing again would replay the retained store at
                // QoS 1 (truncated, and crowding out live changes). The probe alone tells
                // when the queued changes are through.
                let kept = spec.persistent.is_some() && session_present && connected_once;
                connected_once = true;
                attempt = 0;
                ordered_broker = false;
                let sent = if kept {
                    probe_ack_pending = client.publish_probe(&probe);
                    probe_ack_pending
                } else if sys_allowed {
                    awaiting_sys = true;
                    let sys = if spec.count_retained {
                        "$SYS/#"
                    } else {
                        VERSION_TOPIC
                    };
                    client.subscribe(&[sys.to_owned()], 0, false)
                } else {
                    client.subscribe(&all_filters, n_status, spec.persistent.is_some())
                };
                if sent {
                    Some(Event::Connected { session_present })
                } else {
                    Some(Event::Disconnected {
                        reason: "could not send SUBSCRIBE to the broker".into(),
                        attempt,
                    })
                }
            }
            Ok(Net::SubAck(_)) if awaiting_sys => {
                awaiting_sys = false;
                if client.subscribe(&all_filters, n_status, spec.persistent.is_some()) {
                    None
                } else {
                    Some(Event::Disconnected {
                        reason: "could not send SUBSCRIBE to the broker".into(),
                        attempt,
                    })
                }
            }
            Ok(Net::SubAck(granted)) => {
                let refused = spec
                    .filters
                    .iter()
                    .zip(&granted)
                    .filter(|(_, ok)| !**ok)
                    .map(|(f, _)| f.clone())
                    .collect();
                let probe_granted = granted.get(n_status).copied().unwrap_or(false);
                if tx.send(Event::Subscribed { refused }).is_err() {
                    break;
                }
                // Without the probe (an ACL may forbid it) the settle window alone decides.
                probe_ack_pending = probe_granted && client.publish_probe(&probe);
                nudger.arm(probe_ack_pending && ordered_broker);
                (!probe_ack_pending).then_some(Event::ProbeReturned { ordered: false })
            }
            Ok(Net::Publish {
                topic,
                payload,
                retain,
            }) => {
                if topic == probe {
                    nudger.arm(false);
                    Some(Event::ProbeReturned {
                        ordered: ordered_broker,
                    })
                } else if topic.starts_with(PROBE_PREFIX) {
                    None
                } else if topic.starts_with("$SYS/") && !is_status(&topic) {
                    if topic == VERSION_TOPIC {
                        ordered_broker = payload.starts_with(b"mosquitto");
                        // Its SUBACK to the status filters waits for our acknowledgement
                        // of this: a nudge now rather than after the quiet step (see Nudger).
                        if ordered_broker && !awaiting_sys {
                            client.nudge(&format!("{probe}/ack"));
                        }
                    }
                    if retain && spec.count_retained {
                        count_sys(&counts, &topic, &payload);
                    }
                    None
                } else {
                    let Some(message) = budgeted(&budget, topic, payload, retain).await else {
                        break;
                    };
                    Some(Event::Message(message))
                }
            }
            Ok(Net::Disconnecting) => break,
            Ok(Net::Other | Net::PublishSent { .. }) => None,
            // The first PUBACK after a probe went out is the probe's: a refusal (MQTT 5
            // says so; 3.1.1 cannot, and there --wait decides) means it will not come back.
            Ok(Net::PubAck { ok, .. }) if probe_ack_pending => {
                probe_ack_pending = false;
                (!ok).then_some(Event::ProbeReturned { ordered: false })
            }
            Ok(Net::PubAck { ok, .. }) => Some(Event::Acked { ok }),
            // The broker hung up on the `$SYS` subscription: again, without it.
            Err(_) if awaiting_sys => {
                awaiting_sys = false;
                sys_allowed = false;
                None
            }
            Err(reason) => {
                nudger.arm(false);
                let retry = spec.reconnect && connected_once;
                if retry {
                    attempt = attempt.saturating_add(1);
                }
                if tx.send(Event::Disconnected { reason, attempt }).is_err() || !retry {
                    break;
                }
                sleep(backoff(attempt)).await;
                None
            }
        };
        if let Some(event) = event {
            if tx.send(event).is_err() {
                break;
            }
        }
    }
}

/// A retained `$SYS` message: one more in the broker's count, and maybe the count itself.
fn count_sys(counts: &RetainedCounts, topic: &str, payload: &[u8]) {
    use std::sync::atomic::Ordering::Release;
    counts.sys.fetch_add(1, Release);
    if topic == RETAINED_COUNT_TOPIC {
        if let Some(n) = std::str::from_utf8(payload)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        {
            counts.broker_total.store(n, Release);
            counts.has_total.store(true, Release);
        }
    }
}

/// A message with its share of the queue budget: waits while the queue is full.
async fn budgeted(
    budget: &Arc<Semaphore>,
    topic: String,
    payload: Bytes,
    retained: bool,
) -> Option<Message> {
    let kib = 1 + payload.len() / 1024;
    let cost = u32::try_from(kib.min(QUEUE_KIB)).unwrap_or(u32::MAX);
    let permit = Arc::clone(budget).acquire_many_owned(cost).await.ok()?;
    Some(Message {
        topic,
        payload,
        retained,
        _budget: Some(permit),
    })
}

/// 64 random bits from std's per-process hash keys (no crate for this).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// The time rows record: milliseconds are all a status needs, and they read better.
pub fn now_ms() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// 0.5 s, 1 s, 2 s, ... capped at 10 s: rumqttc alone would retry in a tight loop.
pub fn backoff(attempt: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
    Duration::from_millis(ms).min(BACKOFF_MAX)
}

/// `NotAuthorized` -> `not authorized`.
fn words(variant: &str) -> String {
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        // io::Error::source skips the error it wraps; look inside it too.
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            if let Some(t) = find::<T>(inner) {
                return Some(t);
            }
        }
        cur = e.source();
    }
    None
}

fn refused(code: &str, ctx: &Context) -> String {
    match code {
        "NotAuthorized" | "BadUserNamePassword" => {
            format!(
                "not authorized by {}: check --username/--password",
                ctx.host_port
            )
        }
        "BadClientId" | "ClientIdentifierNotValid" => format!(
            "{} rejected the client id '{}': choose another with --client-id",
            ctx.host_port,
            escape(&ctx.client_id)
        ),
        "RefusedProtocolVersion" | "UnsupportedProtocolVersion" => format!(
            "{} does not accept MQTT {}: try --mqtt-version {}",
            ctx.host_port,
            if ctx.version == MqttVersion::V5 {
                "5"
            } else {
                "3.1.1"
            },
            if ctx.version == MqttVersion::V5 {
                "3.1.1"
            } else {
                "5"
            }
        ),
        other => format!("connection refused by {}: {}", ctx.host_port, words(other)),
    }
}

/// One line that says what failed and what to do.
fn describe(err: &(dyn StdError + 'static), ctx: &Context, connected: bool) -> String {
    if let Some(tls) = find::<rustls::Error>(err) {
        return describe_tls(tls, ctx);
    }
    if let Some(io) = find::<io::Error>(err) {
        return describe_io(io, ctx, connected);
    }
    let text = err.to_string();
    if connected {
        format!("connection to {} lost: {text}", ctx.host_port)
    } else {
        format!("cannot connect to {}: {text}", ctx.host_port)
    }
}

fn describe_io(e: &io::Error, ctx: &Context, connected: bool) -> String {
    use io::ErrorKind as K;
    let hp = &ctx.host_port;
    match e.kind() {
        K::ConnectionRefused => format!("connection refused by {hp}: is the broker running?"),
        K::TimedOut => format!("no answer from {hp}: check the address, port and firewall"),
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
            if connected =>
        {
            format!("connection to {hp} lost: the broker closed it")
        }
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
            if ctx.tls {
                format!("{hp} closed the connection during the handshake: is it a TLS port, and does it want a client certificate (--cert/--key)?")
            } else {
                format!("{hp} closed the connection before answering: if it is a TLS port, use mqtts://")
            }
        }
        K::HostUnreachable | K::NetworkUnreachable => {
            format!("{hp} is unreachable: check the broker address")
        }
        _ if e.to_string().contains("lookup") || e.to_string().contains("resolve") => {
            format!(
                "cannot resolve host '{}': check the broker address",
                escape(&ctx.host)
            )
        }
        _ if connected => format!("connection to {hp} lost: {e}"),
        _ => format!("cannot connect to {hp}: {e}"),
    }
}

fn describe_tls(e: &rustls::Error, ctx: &Context) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let hp = &ctx.host_port;
    match e {
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            "certificate verify failed for {hp} (unknown issuer): pass --cafile with the CA that signed the broker's certificate"
        ),
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
            "certificate verify failed: the broker's certificate is not valid for '{}': connect by the name in the certificate",
            escape(&ctx.host)
        ),
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            format!("certificate verify failed: the certificate of {hp} has expired")
        }
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            format!("certificate verify failed: the certificate of {hp} is not valid yet (check the clock)")
        }
        E::InvalidCertificate(_) => format!("certificate verify failed for {hp}: {e}"),
        E::AlertReceived(A::CertificateRequired | A::HandshakeFailure | A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => format!(
            "{hp} rejected the TLS handshake: does it require a client certificate (--cert/--key) signed by a CA it trusts?"
        ),
        other => format!("TLS handshake with {hp} failed: {other}"),
    }
}

fn timeout_message(ctx: &Context) -> String {
    format!(
        "no answer from {} within {}: check the address and port, and whether the broker wants TLS (mqtts://)",
        ctx.host_port,
        humantime::format_duration(ctx.connect_timeout)
    )
}

fn describe_v4(e: &rumqttc::ConnectionError, ctx: &Context, connected: bool) -> String {
    use rumqttc::{ConnectionError as E, StateError as S};
    match e {
        E::ConnectionRefused(code) => refused(&format!("{code:?}"), ctx),
        E::NetworkTimeout | E::FlushTimeout => timeout_message(ctx),
        E::MqttState(S::AwaitPingResp) => format!(
            "connection to {} lost: no answer to keepalive pings",
            ctx.host_port
        ),
        E::MqttState(S::ConnectionAborted) => {
            format!("connection to {} lost: the broker closed it", ctx.host_port)
        }
        _ => describe(e, ctx, connected),
    }
}

fn describe_v5(e: &v5::ConnectionError, ctx: &Context, connected: bool) -> String {
    use v5::{ConnectionError as E, StateError as S};
    match e {
        E::ConnectionRefused(code) | E::MqttState(S::ConnFail { reason: code }) => {
            refused(&format!("{code:?}"), ctx)
        }
        E::Timeout(_) => timeout_message(ctx),
        E::MqttState(S::AwaitPingResp) => format!(
            "connection to {} lost: no answer to keepalive pings",
            ctx.host_port
        ),
        E::MqttState(S::ConnectionAborted) => {
            format!("connection to {} lost: the broker closed it", ctx.host_port)
        }
        E::MqttState(S::ServerDisconnect {
            reason_code,
            reason_string,
        }) => format!(
            "the broker disconnected us: {}{}",
            words(&format!("{reason_code:?}")),
            reason_string
                .as_deref()
                .map(|s| format!(" ({})", escape(s)))
                .unwrap_or_default()
        ),
        _ => describe(e, ctx, connected),
    }
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

    #[test]
    fn variant_names_become_words() {
        assert_eq!(words("NotAuthorized"), "not authorized");
        assert_eq!(words("QuotaExceeded"), "quota exceeded");
    }
}
