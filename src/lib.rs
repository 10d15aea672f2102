//! mqtt-scan: which MQTT clients are connected right now, and since when.
//!
//! `status` is the pure core (patterns, payloads, the fold), `session` the only module that
//! talks MQTT, `render` the pure renderers, `commands` the wiring.

pub mod broker_url;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod history;
pub mod render;
pub mod session;
pub mod status;
pub mod tls;
