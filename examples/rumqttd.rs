//! rumqttd (the demo's embedded broker) as a process of its own, for the interop tests
//! (tests/brokers.rs) and the broker benchmarks (benches/brokers.py), which start it on a
//! free loopback port and stop it by its pid.
//!
//! ```text
//! cargo run --example rumqttd -- PORT [V5_PORT]
//! ```
//! MQTT 3.1.1 on 127.0.0.1:PORT and, when V5_PORT is given, MQTT 5 on 127.0.0.1:V5_PORT
//! (rumqttd serves each protocol version on listeners of its own). Prints `ready PORT` once
//! both listen. The settings are the demo's (src/commands/demo.rs), with room for
//! 20,000 retained messages per subscription.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The tests list 10,000 retained statuses; the demo's broker allows as many.
const MAX_RETAINED_PER_SUBSCRIPTION: u64 = 20_000;

fn server(name: &str, listen: SocketAddr) -> rumqttd::ServerSettings {
    rumqttd::ServerSettings {
        name: name.into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 5000,
            max_payload_size: 1 << 20,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

fn main() {
    let ports: Vec<u16> = std::env::args()
        .skip(1)
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    let (Some(&port), true) = (ports.first(), ports.iter().all(|&p| p > 0)) else {
        eprintln!("usage: rumqttd PORT [V5_PORT]");
        std::process::exit(2);
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let v5 = ports.get(1).map(|&p| SocketAddr::from(([127, 0, 0, 1], p)));
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 10_010,
            // rumqttd sends a new subscriber at most this many retained messages and drops
            // the rest ("for now, we just try to read all messages and drop the excess
            // ones", rumqttd 0.20 src/router/routing.rs); its own rumqttd.toml says 200.
            max_outgoing_packet_count: MAX_RETAINED_PER_SUBSCRIPTION,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: rumqttd::Strategy::default(),
        },
        v4: Some(HashMap::from([("v4".to_owned(), server("v4", addr))])),
        v5: v5.map(|a| HashMap::from([("v5".to_owned(), server("v5", a))])),
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    };
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        if let Err(e) = broker.start() {
            eprintln!("rumqttd: {e}");
        }
        std::process::exit(1);
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    for a in std::iter::once(addr).chain(v5) {
        while TcpStream::connect(a).is_err() {
            if Instant::now() > deadline {
                eprintln!("rumqttd: not listening on {a} after 10 s");
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    println!("ready {port}");
    loop {
        std::thread::park();
    }
}
