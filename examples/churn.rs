//! A load generator for `watch`: `DEVICES` clients' retained statuses flipping between
//! online and offline at `RATE` changes per second for `SECONDS`, each payload carrying
//! its publish time in milliseconds (`{"status":1,"ts":...}`) so a consumer can measure lag.
//!
//! ```text
//! cargo run --release --example churn -- 127.0.0.1 1883 20000 30 [devices=1000]
//! ```

// rumqttc's ConnectionError is large; it is only ever reported here.
#![allow(clippy::result_large_err)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, MqttOptions, QoS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: churn HOST PORT RATE SECONDS [DEVICES=1000]");
        std::process::exit(2);
    }
    let host = args[0].clone();
    let port: u16 = args[1].parse().expect("PORT");
    let rate: u64 = args[2].parse().expect("RATE");
    let seconds: u64 = args[3].parse().expect("SECONDS");
    let devices: u64 = args.get(4).map_or(1000, |d| d.parse().expect("DEVICES"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sent = rt.block_on(async move {
        let mut o = MqttOptions::new(format!("churn-{}", std::process::id()), host, port);
        o.set_keep_alive(Duration::from_secs(30));
        let (client, mut lp) = AsyncClient::new(o, 10_000);
        let poller = tokio::spawn(async move {
            loop {
                if let Err(e) = lp.poll().await {
                    eprintln!("churn: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        // Paced in 10 ms slices so the rate holds without bursts of a whole second.
        let start = Instant::now();
        let end = start + Duration::from_secs(seconds);
        let mut sent: u64 = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        while Instant::now() < end {
            tick.tick().await;
            let due = rate * u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX) / 1000;
            while sent < due {
                let device = sent % devices;
                // Each device alternates: every message is a state change.
                let status = (sent / devices) % 2;
                let ts = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                let payload = format!(r#"{{"status":{status},"ts":{ts}}}"#);
                client
                    .publish(
                        format!("sensors/connected/churn{device}"),
                        QoS::AtMostOnce,
                        true,
                        payload,
                    )
                    .await
                    .unwrap();
                sent += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        poller.abort();
        sent
    });
    eprintln!(
        "churn: published {sent} status changes in {seconds} s ({} per second)",
        sent / seconds.max(1)
    );
}
