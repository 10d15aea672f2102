//! rumqttd (the crate the demo embeds) as a broker process of its own, for the broker
//! benchmarks and experiments (benches/brokers.py):
//!
//! ```text
//! cargo run --release --example rumqttd_broker -- PORT [max_outgoing_packet_count]
//! ```
//! MQTT 3.1.1 on 127.0.0.1:PORT; prints `ready PORT` once it accepts. rumqttd sends a new
//! subscription at most `max_outgoing_packet_count` retained messages (QoS 0; default
//! here 20,000, rumqttd's own example config has 200) and drops the rest.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(port) = args.next().and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: rumqttd_broker PORT [max_outgoing_packet_count]");
        std::process::exit(2);
    };
    let max_out = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = rumqttd::ServerSettings {
        name: "bench".into(),
        listen: addr,
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
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: max_out,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: rumqttd::Strategy::default(),
        },
        v4: Some(HashMap::from([("bench".to_owned(), server)])),
        v5: None,
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
            eprintln!("rumqttd_broker: {e}");
            std::process::exit(1);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            eprintln!("rumqttd_broker: not listening on {addr} after 5 s");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("ready {port}");
    loop {
        std::thread::park();
    }
}
