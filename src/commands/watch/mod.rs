//! `mqtt-scan watch`: the table kept live, full screen on a terminal, one event per line
//! in a pipe.

pub mod core;
pub mod stream;
pub mod tui;

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};

use self::core::Happening;
pub use super::Signals;
use crate::cli::{EventFormat, WatchArgs};
use crate::config::{self, Connection, Scan};
use crate::error::{usage, Exit};
use crate::render::json;
use crate::tls::io_reason;

pub async fn run(
    conn: &Connection,
    scan: &Scan,
    args: &WatchArgs,
    color: config::ColorPolicy,
) -> anyhow::Result<Exit> {
    // Before connecting: Ctrl-C or SIGTERM during a slow connect is still a clean exit 0.
    let mut signals = Signals::new()?;
    let after = Afterwards {
        log: args.log.as_deref().map(ChangeLog::open).transpose()?,
        history: super::open_history(&args.history)?,
    };
    let (conn, opts) = core::Options::for_session(
        conn,
        &args.snapshot,
        args.session.as_deref(),
        args.session_expiry,
    );
    let terminal = config::stdout_is_terminal();
    let events = args.events || args.format == EventFormat::Jsonl || !terminal;
    let watcher = tokio::select! {
        w = core::Watcher::start(&conn, scan, &opts) => w?,
        _ = signals.recv() => return Ok(Exit::Success),
    };
    if events {
        let out = stream::Output {
            format: args.format,
            color: color.enabled(terminal),
        };
        stream::run(watcher, out, after, signals).await
    } else {
        let view = tui::View::new(
            conn.broker.to_string(),
            scan.filters().join(" "),
            args.sort,
            args.offline_only,
            color.enabled(true),
            scan.uses_presets(),
            args.columns.clone(),
        );
        tui::run(watcher, view, after, signals).await
    }
}

/// What is done with each batch besides showing it: `--log`, and `--db`'s since for the
/// rows the broker's retained payloads give no time.
pub struct Afterwards {
    pub log: Option<ChangeLog>,
    pub history: Option<crate::history::read::Filler>,
}

impl Afterwards {
    /// # Errors
    /// When `--log` cannot be written or `--db` read.
    pub fn on_batch(
        &mut self,
        w: &mut core::Watcher,
        happenings: &[Happening],
    ) -> anyhow::Result<()> {
        if let Some(log) = self.log.as_mut() {
            log.record(happenings)?;
        }
        if let Some(history) = &self.history {
            // New rows from the store: the first snapshot, a re-sync's first sightings.
            let sighted = happenings.iter().any(|h| match h {
                Happening::Snapshot { .. } => true,
                Happening::Change(c) => c.from.is_none() && c.retained,
                _ => false,
            });
            if sighted {
                history.fill(&mut w.registry)?;
            }
        }
        Ok(())
    }
}

/// `--log FILE`: every change as a JSON line (the event stream's `change` lines), flushed
/// and synced to disk per batch, so a crash loses at most the batch in hand.
pub struct ChangeLog {
    w: BufWriter<File>,
}

impl ChangeLog {
    /// Opens `--log FILE` for appending (created if missing).
    pub fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                usage(format!(
                    "cannot open --log {}: {}",
                    path.display(),
                    io_reason(&e)
                ))
            })?;
        Ok(Self::new(file))
    }

    pub fn new(file: File) -> Self {
        Self {
            w: BufWriter::with_capacity(1 << 16, file),
        }
    }

    pub fn record(&mut self, happenings: &[Happening]) -> anyhow::Result<()> {
        let mut wrote = false;
        for h in happenings {
            match h {
                Happening::Change(c) => {
                    json::line(&mut self.w, c).map_err(|e| log_error(&e))?;
                    wrote = true;
                }
                Happening::Snapshot { rows, .. } => {
                    for c in rows {
                        json::line(&mut self.w, c).map_err(|e| log_error(&e))?;
                        wrote = true;
                    }
                }
                Happening::Broker { .. } | Happening::Warning(_) => {}
            }
        }
        if wrote {
            self.w.flush().map_err(|e| log_error(&e))?;
            self.w.get_ref().sync_data().map_err(|e| log_error(&e))?;
        }
        Ok(())
    }
}

fn log_error(e: &io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot write --log: {}", io_reason(e))
}
