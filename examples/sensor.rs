//! A device that follows the status convention mqtt-scan reads, with nothing but rumqttc:
//! copy this into your own device code.
//!
//! ```text
//! cargo run --example sensor -- 127.0.0.1 1883 sensor1
//! mqtt-scan list            # sensor1 online
//! (Ctrl-C)                  # sensor1 offline, cleanly
//! (kill -9 instead)         # sensor1 offline, by the broker's Last Will
//! ```
//!
//! The convention, in three rules:
//! 1. Connect with a Last Will on your status topic: retained, QoS 1, payload `0`. The
//!    broker publishes it for you if you vanish (crash, power cut, network gone).
//! 2. On every CONNACK (the first and every reconnect), publish `1` retained, QoS 1. A
//!    reconnect after the Will fired must say "online" again.
//! 3. Before a clean disconnect, publish `0` retained, QoS 1, wait for its PUBACK, then
//!    DISCONNECT (a clean DISCONNECT discards the Will, so the `0` must be yours).

// rumqttc's ConnectionError is large; it is only ever reported here.
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, name] = args.as_slice() else {
        eprintln!("usage: sensor HOST PORT NAME");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("PORT is a number");
    let topic = format!("sensors/connected/{name}");

    // Rule 1: the Will, registered with the connection.
    let mut options = MqttOptions::new(format!("sensor-{name}"), host.as_str(), port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_last_will(LastWill::new(&topic, "0", QoS::AtLeastOnce, true));
    let (client, mut eventloop) = AsyncClient::new(options, 10);

    // Rule 3, part one: on SIGINT/SIGTERM, say offline ourselves. (Another task, so the
    // event loop below is only ever polled, never cancelled mid-poll.)
    let stopping = Arc::new(AtomicBool::new(false));
    {
        let (client, topic, stopping) = (client.clone(), topic.clone(), stopping.clone());
        tokio::spawn(async move {
            shutdown_signal().await;
            stopping.store(true, Ordering::SeqCst);
            client
                .publish(topic, QoS::AtLeastOnce, true, "0")
                .await
                .unwrap();
        });
    }
    loop {
        match eventloop.poll().await {
            // Rule 2: online on every CONNACK, unless we are on our way out (a reconnect
            // during shutdown may have lost the `0`: send it again).
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let status = if stopping.load(Ordering::SeqCst) {
                    "0"
                } else {
                    "1"
                };
                client
                    .publish(&topic, QoS::AtLeastOnce, true, status)
                    .await
                    .unwrap();
                // The signal may have come while we queued `1`: then `0` must follow it.
                if status == "1" && stopping.load(Ordering::SeqCst) {
                    client
                        .publish(&topic, QoS::AtLeastOnce, true, "0")
                        .await
                        .unwrap();
                } else if status == "1" {
                    eprintln!("{name}: connected, online");
                }
            }
            // Rule 3, part two: once everything we sent is acknowledged, DISCONNECT.
            // Requests leave in order, so the `0` is on the wire before the DISCONNECT.
            Ok(Event::Incoming(Packet::PubAck(_)))
                if stopping.load(Ordering::SeqCst) && eventloop.state.inflight() == 0 =>
            {
                client.disconnect().await.unwrap();
            }
            // ...and stop polling: polling after DISCONNECT would reconnect.
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                eprintln!("{name}: offline, disconnected");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                // rumqttc reconnects on the next poll; don't spin while the broker is away.
                eprintln!("{name}: connection error: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn shutdown_signal() {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
