//! `mqtt-scan demo`: the whole tool with nothing installed. An embedded broker (rumqttd) on
//! a free loopback port, a simulated fleet of real MQTT clients following the convention
//! (some stay, some leave cleanly, some crash so their Will fires, some flap; a few speak
//! JSON or Tasmota's convention), and `watch` against it.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};

use crate::cli::{ColorChoice, DemoArgs, SnapshotArgs, WatchArgs};
use crate::config::{self, Connection, Scan};
use crate::error::Exit;
use crate::session::{AnnounceSpec, Announcer};
use crate::status::{Pattern, SortKey, Source, Vocabulary};

/// How long the demo's own watcher waits for the embedded broker's CONNACK at least.
const DEMO_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Devices join over this long (in order), not all in the same instant.
const RAMP: Duration = Duration::from_secs(1);

/// One pass of the fleet's story; then it starts again.
const CYCLE: Duration = Duration::from_secs(60);

/// Room for every status of the largest fleet (`--devices` is at most 1,000), with margin.
const MAX_RETAINED_PER_SUBSCRIPTION: u64 = 10_000;

pub async fn run(base: &Connection, args: &DemoArgs, color: ColorChoice) -> anyhow::Result<Exit> {
    let addr = start_broker()?;
    let url = format!("mqtt://{addr}");
    // The first line: another terminal can look at the same broker.
    eprintln!(
        "mqtt-scan: demo broker at {url} (in another terminal: {} list -b {url})",
        how_to_run_me()
    );
    let mut conn = base.clone();
    conn.broker = url.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    conn.tls = None;
    conn.username = None;
    conn.password = None;
    for i in 0..usize::from(args.devices) {
        tokio::spawn(device(conn.clone(), i));
    }
    // A thousand devices connect at once: on a busy machine our own broker may take longer
    // than a remote one should to answer the watcher (it is ours, and it is there).
    conn.connect_timeout = conn.connect_timeout.max(DEMO_CONNECT_TIMEOUT);
    let scan = Scan {
        sources: demo_sources(),
        vocab: Vocabulary::default(),
    };
    let watch = WatchArgs {
        events: args.events,
        format: args.format,
        sort: SortKey::Name,
        offline_only: false,
        columns: None,
        session: None,
        session_expiry: Duration::from_secs(86_400),
        log: None,
        history: crate::cli::HistoryArgs { db: None },
        snapshot: SnapshotArgs {
            wait: Duration::from_secs(5),
            // Our own rumqttd writes a new subscription's retained messages out, SUBACK
            // first, in the same router step, before it reads the probe (docs/brokers.md):
            // the probe's return ends the snapshot, no settle window.
            settle: Duration::ZERO,
        },
    };
    let watching = super::watch::run(&conn, &scan, &watch, config::ColorPolicy(color));
    match args.duration {
        Some(d) => tokio::select! {
            result = watching => result,
            () = sleep(d) => Ok(Exit::Success),
        },
        None => watching.await,
    }
}

/// How the user can run this same program from another terminal: `mqtt-scan` only when
/// that name finds it on PATH. Under `cargo run` (which sets CARGO_PKG_NAME for what it
/// runs) that is `cargo run --release --`; otherwise the path it was started by.
fn how_to_run_me() -> String {
    if std::env::var_os("CARGO_PKG_NAME").is_some_and(|n| n == "mqtt-scan") {
        return "cargo run --release --".to_owned();
    }
    let Ok(me) = std::env::current_exe() else {
        return "mqtt-scan".to_owned();
    };
    let same = |found: &std::path::Path| {
        std::fs::canonicalize(found).is_ok_and(|f| std::fs::canonicalize(&me).is_ok_and(|m| f == m))
    };
    if super::find_on_path("mqtt-scan").is_some_and(|found| same(&found)) {
        "mqtt-scan".to_owned()
    } else {
        crate::status::escape(&me.display().to_string()).into_owned()
    }
}

/// The plain devices use the default topic (so `mqtt-scan list -b URL` sees them); the
/// Tasmota ones their own convention.
fn demo_sources() -> Vec<Source> {
    let mut sources = vec![Source::topic(
        Pattern::parse(config::DEFAULT_TOPIC).expect("a valid pattern"),
    )];
    if let Some(tasmota) = crate::status::presets::find("tasmota") {
        for t in tasmota.topics {
            sources.push(Source::preset(t, tasmota.name.into()).expect("a valid pattern"));
        }
    }
    sources
}

/// The demo's rumqttd settings: MQTT 3.1.1 on `v4` and, when given, MQTT 5 on `v5` (rumqttd
/// serves each version on listeners of its own), with room for `max_retained` retained
/// messages per subscription. Also the broker of the tests and benchmarks
/// (examples/rumqttd.rs).
pub fn rumqttd_config(
    v4: SocketAddr,
    v5: Option<SocketAddr>,
    max_retained: u64,
) -> rumqttd::Config {
    let server = |name: &str, listen| rumqttd::ServerSettings {
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
    };
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 10_010,
            // rumqttd sends a new subscriber at most this many retained messages and drops
            // the rest ("for now, we just try to read all messages and drop the excess
            // ones", rumqttd 0.20 src/router/routing.rs); its own rumqttd.toml says 200.
            max_outgoing_packet_count: max_retained,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: rumqttd::Strategy::default(),
        },
        v4: Some(HashMap::from([("v4".to_owned(), server("v4", v4))])),
        v5: v5.map(|a| HashMap::from([("v5".to_owned(), server("v5", a))])),
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}

/// rumqttd in threads of its own, on a free loopback port; returns once it accepts.
fn start_broker() -> anyhow::Result<SocketAddr> {
    let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let config = rumqttd_config(addr, None, MAX_RETAINED_PER_SUBSCRIPTION);
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        if let Err(e) = broker.start() {
            eprintln!("mqtt-scan: the demo broker stopped: {e}");
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_err() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the demo broker did not start on {addr}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(addr)
}

/// What a simulated device does in each cycle.
#[derive(Debug, Clone, Copy)]
enum Role {
    Stays,
    /// Dies without DISCONNECT at `at`; its Will fires. Back at `back`.
    Crashes {
        at: Duration,
        back: Duration,
    },
    /// Says offline and disconnects cleanly at `at`; back at `back`.
    Leaves {
        at: Duration,
        back: Duration,
    },
    /// Online and offline, every `half` each.
    Flaps {
        half: Duration,
    },
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Device `i`: its name, role, and convention.
fn cast(i: usize) -> (String, Role, Style) {
    let n = i + 1;
    #[allow(clippy::cast_precision_loss)]
    let jitter = (i % 7) as f64 * 0.3;
    match i % 6 {
        0 => (format!("sensor-{n:02}"), Role::Stays, Style::Plain),
        // The first crash comes within a few seconds, so a newcomer sees a Will fire.
        1 => (
            format!("sensor-{n:02}"),
            Role::Crashes {
                at: secs(2.0 + jitter),
                back: secs(32.0),
            },
            Style::Plain,
        ),
        2 => (
            format!("sensor-{n:02}"),
            Role::Leaves {
                at: secs(15.0 + jitter),
                back: secs(40.0),
            },
            Style::Plain,
        ),
        3 => (
            format!("flappy-{n:02}"),
            Role::Flaps {
                half: secs(6.0 + jitter),
            },
            Style::Plain,
        ),
        4 => (
            format!("meter-{n:02}"),
            Role::Crashes {
                at: secs(24.0 + jitter),
                back: secs(48.0),
            },
            Style::Json,
        ),
        _ => (
            format!("plug-{n:02}"),
            Role::Leaves {
                at: secs(20.0 + jitter),
                back: secs(45.0),
            },
            Style::Tasmota,
        ),
    }
}

#[derive(Debug, Clone, Copy)]
enum Style {
    Plain,
    Json,
    Tasmota,
}

fn spec(name: &str, style: Style) -> AnnounceSpec {
    let fixed = |s: &'static str| -> crate::session::MakePayload {
        Arc::new(move || s.as_bytes().to_vec())
    };
    match style {
        Style::Plain => AnnounceSpec {
            topic: format!("sensors/connected/{name}"),
            online: fixed("1"),
            offline: fixed("0"),
            will: b"0".to_vec(),
        },
        Style::Json => {
            let json = |status: u8| -> crate::session::MakePayload {
                let name = name.to_owned();
                Arc::new(move || {
                    serde_json::json!({"status": status, "ts": chrono::Utc::now().timestamp(), "ip": "10.0.0.42", "client": name})
                        .to_string()
                        .into_bytes()
                })
            };
            AnnounceSpec {
                topic: format!("sensors/connected/{name}"),
                online: json(1),
                offline: json(0),
                will: serde_json::json!({"status": 0, "client": name})
                    .to_string()
                    .into_bytes(),
            }
        }
        Style::Tasmota => AnnounceSpec {
            topic: format!("tele/{name}/LWT"),
            online: fixed("Online"),
            offline: fixed("Offline"),
            will: b"Offline".to_vec(),
        },
    }
}

/// One simulated device, forever (it ends with the process): each cycle of its story
/// starts online.
async fn device(mut conn: Connection, i: usize) {
    let (name, role, style) = cast(i);
    conn.client_id = format!("demo-{name}");
    // Spread over the ramp: device i of 1,000 a millisecond after device i-1.
    sleep(RAMP / 1000 * u32::try_from(i % 1000).unwrap_or(0)).await;
    conn.keepalive = Duration::from_secs(5);
    let connect = || async {
        loop {
            match Announcer::connect(&conn, spec(&name, style)).await {
                Ok(a) => return a,
                Err(_) => sleep(Duration::from_secs(1)).await,
            }
        }
    };
    let mut online = Some(connect().await);
    loop {
        let start = Instant::now();
        match role {
            Role::Stays => {}
            Role::Crashes { at, back } => {
                tokio::time::sleep_until(start + at).await;
                if let Some(a) = online.take() {
                    a.crash();
                }
                tokio::time::sleep_until(start + back).await;
                online = Some(connect().await);
            }
            Role::Leaves { at, back } => {
                tokio::time::sleep_until(start + at).await;
                if let Some(a) = online.take() {
                    let _ = a.shutdown(Duration::from_secs(2)).await;
                }
                tokio::time::sleep_until(start + back).await;
                online = Some(connect().await);
            }
            Role::Flaps { half } => {
                while start.elapsed() + half * 2 <= CYCLE {
                    sleep(half).await;
                    if let Some(a) = online.take() {
                        let _ = a.shutdown(Duration::from_secs(2)).await;
                    }
                    sleep(half).await;
                    online = Some(connect().await);
                }
            }
        }
        tokio::time::sleep_until(start + CYCLE).await;
    }
}
