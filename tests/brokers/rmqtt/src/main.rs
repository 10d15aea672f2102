//! rmqtt for the interop tests: one TCP listener on 127.0.0.1:PORT (MQTT 3.1, 3.1.1 and 5),
//! retained messages kept in memory (the retainer plugin: without it rmqtt 0.24 has no
//! retained messages), and the sys-topic plugin, which publishes
//! `$SYS/brokers/{node}/clients/{id}/connected|disconnected`.
//!
//! Usage: rmqtt-test-broker PORT. Prints `ready PORT` once it listens.

use rmqtt::{context::ServerContext, net::Builder, server::MqttServer, Result};

#[tokio::main]
async fn main() -> Result<()> {
    let Some(port) = std::env::args().nth(1).and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: rmqtt-test-broker PORT");
        std::process::exit(2);
    };
    let scx = ServerContext::new()
        .plugins_config_map_add("rmqtt-retainer", "storage.type = \"ram\"\n")
        .plugins_config_map_add("rmqtt-sys-topic", "publish_interval = \"1m\"\n")
        .build()
        .await;
    rmqtt_retainer::register(&scx, true, false).await?;
    rmqtt_sys_topic::register(&scx, true, false).await?;
    let listener = Builder::new()
        .name("tcp")
        .laddr(([127, 0, 0, 1], port).into())
        .nodelay(true)
        .bind()?
        .tcp()?;
    println!("ready {port}");
    MqttServer::new(scx).listener(listener).build().run().await?;
    Ok(())
}
