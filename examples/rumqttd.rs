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

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mqtt_scan::commands::demo::rumqttd_config;

/// The tests list 10,000 retained statuses: room for twice as many.
const MAX_RETAINED_PER_SUBSCRIPTION: u64 = 20_000;

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
    let config = rumqttd_config(addr, v5, MAX_RETAINED_PER_SUBSCRIPTION);
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
