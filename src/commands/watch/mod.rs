//! `mqtt-scan watch`: the table kept live, full screen on a terminal, one event per line
//! in a pipe.

pub mod core;
pub mod stream;
pub mod tui;

use std::fs::OpenOptions;

use crate::cli::{EventFormat, WatchArgs};
use crate::config::{self, Connection, Scan};
use crate::error::{usage, Exit};
use crate::tls::io_reason;

pub async fn run(
    conn: &Connection,
    scan: &Scan,
    args: &WatchArgs,
    color: config::ColorPolicy,
) -> anyhow::Result<Exit> {
    let log = match &args.log {
        Some(path) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    usage(format!(
                        "cannot open --log {}: {}",
                        path.display(),
                        io_reason(&e)
                    ))
                })?,
        ),
        None => None,
    };
    let mut conn = conn.clone();
    if let Some(name) = &args.session {
        conn.client_id.clone_from(name);
    }
    let opts = core::Options {
        wait: args.snapshot.wait,
        settle: args.snapshot.settle,
        session_expiry: args.session.as_ref().map(|_| args.session_expiry),
    };
    let terminal = config::stdout_is_terminal();
    let events = args.events || args.format == EventFormat::Jsonl || !terminal;
    let watcher = core::Watcher::start(&conn, scan, &opts).await?;
    if events {
        let out = stream::Output {
            format: args.format,
            color: color.enabled(terminal),
            log,
        };
        stream::run(watcher, out).await
    } else {
        let view = tui::View::new(
            conn.broker.to_string(),
            scan.filters().join(" "),
            args.sort,
            args.offline_only,
            color.enabled(true),
        );
        if log.is_some() {
            eprintln!("mqtt-scan: warning: --log is written in event mode only (add --events)");
        }
        tui::run(watcher, view).await
    }
}
