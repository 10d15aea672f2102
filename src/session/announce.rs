//! The client side of the convention: a Last Will (retained offline), a retained online
//! status on every CONNACK, and a retained offline status, acknowledged, before a clean
//! DISCONNECT.

use std::net::{IpAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

use super::backoff;
use super::client::{build, Client, EventLoop, Net, Will};
use super::errors::Context;
use crate::cli::MAX_DURATION;
use crate::config::Connection;

/// A payload made when it is sent (a JSON status carries the time).
pub type MakePayload = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;

pub struct AnnounceSpec {
    pub topic: String,
    pub online: MakePayload,
    pub offline: MakePayload,
    pub will: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnounceEvent {
    /// Connected and the online status sent (the first time, or again after a reconnect).
    Online,
    /// The connection is gone; reconnecting (attempt N).
    Lost { reason: String, attempt: u32 },
}

pub struct Announcer {
    events: mpsc::UnboundedReceiver<AnnounceEvent>,
    task: JoinHandle<Result<(), String>>,
    shared: Arc<Shared>,
}

/// What the caller and the event-loop task share: who may publish what, in which order.
struct Shared {
    client: Client,
    topic: String,
    online: MakePayload,
    offline: MakePayload,
    /// Held while checking `stopping` and queueing a publish, so the order in which
    /// publishes leave matches what the task counts.
    queue: Mutex<Queue>,
    stopping: AtomicBool,
    /// Cuts a reconnect backoff short when shutdown begins.
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct Queue {
    /// Online publishes queued but not yet sent: the next sends are theirs.
    online_unsent: usize,
}

impl Shared {
    fn publish(&self, payload: Vec<u8>) -> bool {
        self.client.try_publish_retained(&self.topic, payload)
    }

    fn disconnect(&self) {
        let _ = self.client.try_disconnect();
    }
}

impl Announcer {
    /// Connects with the Will and sends the online status; a failure here is final.
    pub async fn connect(conn: &Connection, spec: AnnounceSpec) -> anyhow::Result<Self> {
        let will = Will {
            topic: spec.topic.clone(),
            payload: spec.will,
        };
        let (client, event_loop) = build(conn, None, Some(&will));
        let shared = Arc::new(Shared {
            client,
            topic: spec.topic,
            online: spec.online,
            offline: spec.offline,
            queue: Mutex::new(Queue::default()),
            stopping: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        });
        let (tx, mut events) = mpsc::unbounded_channel();
        let ctx = Context::new(conn);
        let task = tokio::spawn(run(event_loop, ctx.clone(), Arc::clone(&shared), tx));
        match super::sniff::first_answer(&ctx, events.recv()).await {
            Ok(Some(AnnounceEvent::Online)) => Ok(Self {
                events,
                task,
                shared,
            }),
            Ok(Some(AnnounceEvent::Lost { reason, .. })) => Err(anyhow::anyhow!(reason)),
            Ok(None) => Err(anyhow::anyhow!(
                "the connection to {} ended unexpectedly",
                conn.broker
            )),
            Err(why) => {
                task.abort();
                Err(anyhow::anyhow!(why))
            }
        }
    }

    pub async fn next(&mut self) -> Option<AnnounceEvent> {
        self.events.recv().await
    }

    /// Vanishes without DISCONNECT, as a crashing device would: the broker's Will speaks.
    pub fn crash(self) {
        self.task.abort();
    }

    /// Publishes the offline status (retained, QoS 1), waits for its acknowledgement, sends
    /// DISCONNECT: all within `bound`. Past it, the broker's Will speaks for us.
    pub async fn shutdown(self, bound: Duration) -> anyhow::Result<()> {
        {
            let _queue = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.shared.stopping.store(true, Ordering::SeqCst);
            self.shared.publish((self.shared.offline)());
        }
        self.shared.wake.notify_one();
        let bound = bound.min(MAX_DURATION);
        let mut task = self.task;
        let result = timeout(bound, &mut task).await;
        if result.is_err() {
            task.abort();
        }
        match result {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(reason))) => Err(anyhow::anyhow!(
                "could not confirm the offline status ({reason}): the broker's Will reports it"
            )),
            Ok(Err(e)) => Err(anyhow::anyhow!("the connection task failed: {e}")),
            Err(_) => Err(anyhow::anyhow!(
                "the broker did not acknowledge the offline status within {}: the Will reports it once the broker notices the connection is gone",
                humantime::format_duration(bound)
            )),
        }
    }
}

async fn run(
    mut event_loop: EventLoop,
    ctx: Context,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<AnnounceEvent>,
) -> Result<(), String> {
    let mut connected_once = false;
    let mut attempt = 0u32;
    let mut offline_pkid: Option<u16> = None;
    loop {
        match event_loop.poll(&ctx, connected_once).await {
            Ok(Net::ConnAck { .. }) => {
                connected_once = true;
                attempt = 0;
                let mut queue = shared
                    .queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // A clean session drops whatever was queued before the reconnect.
                queue.online_unsent = 0;
                if shared.stopping.load(Ordering::SeqCst) {
                    // Stopping across a reconnect: the offline status may have been lost.
                    offline_pkid = None;
                    shared.publish((shared.offline)());
                } else if shared.publish((shared.online)()) {
                    queue.online_unsent += 1;
                    drop(queue);
                    let _ = tx.send(AnnounceEvent::Online);
                }
            }
            Ok(Net::PublishSent { pkid }) => {
                let mut queue = shared
                    .queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if queue.online_unsent > 0 {
                    queue.online_unsent -= 1;
                } else if shared.stopping.load(Ordering::SeqCst) {
                    offline_pkid = Some(pkid);
                }
            }
            Ok(Net::PubAck { pkid, ok }) if Some(pkid) == offline_pkid => {
                if !ok {
                    // A clean DISCONNECT would cancel the Will and leave "online" standing:
                    // drop the connection instead, so the Will says offline.
                    return Err("the broker refused the offline status".into());
                }
                shared.disconnect();
            }
            Ok(Net::Disconnecting) => {
                // DISCONNECT is flushed to the socket (rumqttc reports it after the flush).
                // The broker should close now, but some never do (rmqtt 0.24 waits for us):
                // read what still arrives, so closing with data unread does not reset the
                // connection, and close our side once the line is quiet. Never poll past
                // that: polling on would reconnect.
                drain(&mut event_loop, &ctx).await;
                return Ok(());
            }
            Ok(_) => {}
            Err(reason) => {
                if shared.stopping.load(Ordering::SeqCst) {
                    // Shutting down: keep trying to say offline until the caller's bound.
                    sleep(Duration::from_millis(200)).await;
                    continue;
                }
                attempt = attempt.saturating_add(1);
                if tx.send(AnnounceEvent::Lost { reason, attempt }).is_err() {
                    return Ok(());
                }
                tokio::select! {
                    () = sleep(backoff(attempt)) => {}
                    () = shared.wake.notified() => {}
                }
            }
        }
    }
}

/// After our DISCONNECT: returns when the broker closes the connection, when nothing has
/// arrived for [`QUIET`], or after [`LINGER`] at most.
async fn drain(event_loop: &mut EventLoop, ctx: &Context) {
    const QUIET: Duration = Duration::from_millis(50);
    const LINGER: Duration = Duration::from_secs(1);
    let _ = timeout(LINGER, async {
        while let Ok(Ok(_)) = timeout(QUIET, event_loop.poll(ctx, true)).await {}
    })
    .await;
}

/// The local address the system would use to reach the broker (a connected UDP socket
/// sends nothing; it only asks the routing table). None when the name does not resolve.
pub fn local_ip(conn: &Connection) -> Option<IpAddr> {
    let addr = (conn.broker.host.as_str(), conn.broker.port)
        .to_socket_addrs()
        .ok()?
        .next()?;
    let bind: (IpAddr, u16) = if addr.is_ipv4() {
        (IpAddr::from([0, 0, 0, 0]), 0)
    } else {
        (IpAddr::from([0u16; 8]), 0)
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(addr).ok()?;
    Some(socket.local_addr().ok()?.ip())
}
