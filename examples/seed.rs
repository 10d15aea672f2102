//! Seeds a broker with N retained statuses `sensors/connected/dev{i}`, as a fleet following
//! the convention would leave them: the benchmark and the tests use it.
//!
//! ```text
//! cargo run --release --example seed -- 127.0.0.1 1883 100000 [offline_every] [qos]
//! ```
//! Every `offline_every`-th device is offline (`0`), the rest online (`1`); QoS 1 (default)
//! waits for every PUBACK, QoS 0 ends with one QoS 1 publish whose PUBACK proves the broker
//! has stored everything before it.

// rumqttc's ConnectionError is large; it is only ever reported here.
#![allow(clippy::result_large_err)]

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// Publishes the statuses and returns how many are offline.
pub fn seed(host: &str, port: u16, n: usize, offline_every: usize, qos1: bool) -> usize {
    let messages = (0..n).map(move |i| {
        let offline = offline_every > 0 && i % offline_every == 0;
        (
            format!("sensors/connected/dev{i}"),
            if offline {
                b"0".to_vec()
            } else {
                b"1".to_vec()
            },
        )
    });
    publish_retained(host, port, n, messages, qos1);
    if offline_every == 0 {
        0
    } else {
        n.div_ceil(offline_every)
    }
}

/// Publishes `n` retained messages and returns once the broker has stored them all: with
/// QoS 1 every PUBACK is awaited; with QoS 0 a final QoS 1 publish is the barrier (mosquitto
/// handles one client's packets in order).
pub fn publish_retained(
    host: &str,
    port: u16,
    n: usize,
    messages: impl Iterator<Item = (String, Vec<u8>)> + Send + 'static,
    qos1: bool,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let host = host.to_owned();
    rt.block_on(async move {
        let mut o = MqttOptions::new(format!("seed-{port}-{}", std::process::id()), host, port);
        o.set_inflight(1000)
            .set_keep_alive(Duration::from_secs(60))
            .set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut lp) = AsyncClient::new(o, 1000);
        let qos = if qos1 {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        let publisher = tokio::spawn(async move {
            for (topic, payload) in messages {
                client.publish(topic, qos, true, payload).await.unwrap();
            }
            client
                .publish("seed/done", QoS::AtLeastOnce, false, "")
                .await
                .unwrap();
            client
        });
        let want = if qos1 { n + 1 } else { 1 };
        let mut acked = 0usize;
        while acked < want {
            let event = tokio::time::timeout(Duration::from_secs(60), lp.poll())
                .await
                .unwrap_or_else(|_| {
                    panic!("publishing stalled at {acked}/{want} acknowledgements")
                });
            match event {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => panic!("publishing failed: {e}"),
            }
        }
        let client = publisher.await.unwrap();
        let _ = client.disconnect().await;
    });
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: seed HOST PORT COUNT [OFFLINE_EVERY=10] [QOS=1]");
        std::process::exit(2);
    }
    let port: u16 = args[1].parse().expect("PORT");
    let n: usize = args[2].parse().expect("COUNT");
    let every: usize = args
        .get(3)
        .map_or(10, |s| s.parse().expect("OFFLINE_EVERY"));
    let qos1 = args.get(4).is_none_or(|q| q != "0");
    let started = Instant::now();
    let offline = seed(&args[0], port, n, every, qos1);
    eprintln!(
        "seeded {n} retained statuses ({offline} offline) at QoS {} in {:.2?}",
        u8::from(qos1),
        started.elapsed()
    );
}
