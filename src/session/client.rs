//! The rumqttc client and event loop over MQTT 3.1.1 and 5, behind one face: options from a
//! `Connection`, subscribe and publish calls, and each event-loop step as a [`Net`].

use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5;

use super::errors::{describe_v4, describe_v5, words, Context};
use super::sniff;
use crate::cli::MqttVersion;
use crate::config::Connection;

/// Largest packet MQTT can carry; rumqttc's 10 KiB default would drop big statuses.
const MAX_INCOMING: usize = 268_435_455;
const MAX_OUTGOING: usize = 1 << 20;

#[derive(Clone)]
pub(super) enum Client {
    V4(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

pub(super) enum EventLoop {
    V4(Box<rumqttc::EventLoop>),
    V5(Box<v5::EventLoop>),
}

/// An event-loop step, the same for both protocol versions.
pub(super) enum Net {
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

/// A Last Will: the broker publishes it (retained, QoS 1) if we vanish without DISCONNECT.
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
}

pub(super) fn build(
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
    pub(super) fn subscribe(&self, filters: &[String], n_status: usize, persistent: bool) -> bool {
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

    pub(super) fn publish_probe(&self, topic: &str) -> bool {
        match self {
            Client::V4(c) => c
                .try_publish(topic, rumqttc::QoS::AtLeastOnce, false, "probe")
                .is_ok(),
            Client::V5(c) => c
                .try_publish(topic, v5::mqttbytes::QoS::AtLeastOnce, false, "probe")
                .is_ok(),
        }
    }

    /// A retained QoS 1 publish, queued at once (false when the queue is full or closed).
    pub(super) fn try_publish_retained(&self, topic: &str, payload: Vec<u8>) -> bool {
        match self {
            Client::V4(c) => c
                .try_publish(topic, rumqttc::QoS::AtLeastOnce, true, payload)
                .is_ok(),
            Client::V5(c) => c
                .try_publish(topic, v5::mqttbytes::QoS::AtLeastOnce, true, payload)
                .is_ok(),
        }
    }

    /// A retained QoS 1 publish that waits for room in the queue (false once it is closed).
    pub(super) async fn publish_retained(&self, topic: &str, payload: Vec<u8>) -> bool {
        match self {
            Client::V4(c) => c
                .publish(topic, rumqttc::QoS::AtLeastOnce, true, payload)
                .await
                .is_ok(),
            Client::V5(c) => c
                .publish(topic, v5::mqttbytes::QoS::AtLeastOnce, true, payload)
                .await
                .is_ok(),
        }
    }

    /// Queues a DISCONNECT (false when the queue is full or closed).
    pub(super) fn try_disconnect(&self) -> bool {
        match self {
            Client::V4(c) => c.try_disconnect().is_ok(),
            Client::V5(c) => c.try_disconnect().is_ok(),
        }
    }

    /// A QoS 0 message that asks for no answer: it only carries our acknowledgement.
    pub(super) fn nudge(&self, topic: &str) {
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

impl EventLoop {
    pub(super) async fn poll(&mut self, ctx: &Context, connected: bool) -> Result<Net, String> {
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
                Err(e) => {
                    let described = describe_v4(&e, ctx, connected);
                    Err(sniff::explain(described, ctx).await)
                }
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
                        // 0x10 "No matching subscribers" is a success too (MQTT 5 §3.4.2.1):
                        // mosquitto sends it for a status nobody is subscribed to right now.
                        ok: matches!(
                            a.reason,
                            v5::mqttbytes::v5::PubAckReason::Success
                                | v5::mqttbytes::v5::PubAckReason::NoMatchingSubscribers
                        ),
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
                Err(e) => {
                    let described = describe_v5(&e, ctx, connected);
                    Err(sniff::explain(described, ctx).await)
                }
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
