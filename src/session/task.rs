//! The session task: polls the event loop, subscribes on every CONNACK (`$SYS` first, then
//! the status filters and the probe), sends the probe after the SUBACK, reconnects with
//! backoff, and turns what arrives into [`Event`]s for the command.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::sleep;

use super::brokers::{self, Ordered};
use super::client::{Client, EventLoop, Net};
use super::errors::Context;
use super::snapshot::Nudger;
use super::{
    backoff, Event, Message, RetainedCounts, Spec, PROBE_PREFIX, RETAINED_COUNT_TOPIC,
    VERSION_TOPIC,
};
use crate::status::Pattern;

/// What the session task may queue ahead of the command, in KiB of messages (a message
/// costs 1 + its size in KiB): enough to absorb a snapshot burst while the fold catches
/// up, bounded when a broker sends big payloads faster than we can fold them (then TCP
/// pushes back and the broker queues).
const QUEUE_KIB: usize = 64 * 1024;

// One match over the event loop's steps; splitting it would scatter the state it shares.
#[allow(clippy::too_many_lines)]
pub(super) async fn run(
    mut event_loop: EventLoop,
    client: Client,
    tx: mpsc::UnboundedSender<Event>,
    ctx: Context,
    spec: Spec,
    probe: String,
    counts: Arc<RetainedCounts>,
) {
    // A `$SYS` message is a status only under a filter whose first level is `$SYS` (a
    // wildcard does not match `$` topics): usually none, so the check costs nothing.
    let sys_status_patterns: Vec<Pattern> = spec
        .filters
        .iter()
        .filter(|f| f.starts_with("$SYS/"))
        .filter_map(|f| Pattern::parse(f).ok())
        .collect();
    let is_sys_status = |topic: &str| sys_status_patterns.iter().any(|p| p.name(topic).is_some());
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
    // The broker, when its retained `$SYS/broker/version` names one whose order is proven.
    let mut ordered: Option<Ordered> = None;
    let mut probe_ack_pending = false;
    let nudge_topic = format!("{probe}/ack");
    let nudger = Nudger::spawn(client.clone(), nudge_topic.clone());
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
                ordered = None;
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
                nudger.arm(probe_ack_pending && ordered.is_some_and(|b| b.nagle));
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
                        ordered: ordered.is_some(),
                    })
                } else if topic.starts_with(PROBE_PREFIX) {
                    None
                } else if topic.starts_with("$SYS/") && !is_sys_status(&topic) {
                    if topic == VERSION_TOPIC && retain {
                        ordered = brokers::recognise(&payload);
                        // mosquitto's SUBACK to the status filters waits for our
                        // acknowledgement of this: a nudge now rather than after the quiet
                        // step (see Nudger).
                        if ordered.is_some_and(|b| b.nagle) && !awaiting_sys {
                            client.nudge(&nudge_topic);
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
