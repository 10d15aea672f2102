//! `mqtt-scan serve`: `watch` as a long-running service. The same [`Watcher`] connects,
//! folds, reconnects and re-syncs; what it brings goes to an HTTP server (axum): the
//! `list --format json` document, the `watch --format jsonl` stream as Server-Sent Events,
//! Prometheus metrics, health and readiness.
//!
//! One task (this one) owns the watcher and answers the handlers' requests between its
//! `next()`s (which is cancel-safe); the server runs in a task of its own.

mod availability;
mod dashboard;
mod http;
mod hub;
mod metrics;
mod rendered;

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use self::hub::{Hub, Request};
use super::watch::core::{self, Happening, Watcher};
use super::watch::ChangeLog;
use crate::cli::ServeArgs;
use crate::config::{Connection, Scan};
use crate::error::Exit;
use crate::history::write::{Saved, Writer};
use crate::status::Registry;
use crate::tls::io_reason;

/// How long the open connections get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// How often readiness is looked at besides after each batch of happenings.
const READINESS_TICK: Duration = Duration::from_millis(200);

pub async fn run(conn: &Connection, scan: &Scan, args: &ServeArgs) -> anyhow::Result<Exit> {
    // SIGINT and SIGTERM end it gracefully. Not SIGHUP: a service outlives its terminal
    // (and `nohup` must keep working).
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut log = args.log.as_deref().map(ChangeLog::open).transpose()?;
    let (history, restore) = open_history(args)?;
    let listener = TcpListener::bind(&args.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {} (choose another address with --listen)",
            args.listen,
            io_reason(&e)
        )
    })?;
    let local = listener.local_addr()?;
    eprintln!(
        "mqtt-scan: serving http://{local}/ for {} (/api/clients, /api/events, /metrics, /healthz, /readyz)",
        conn.broker
    );
    if let Some(db) = &history {
        eprintln!(
            "mqtt-scan: history in {} ({} clients from the last run)",
            crate::status::escape(&db.path().display().to_string()),
            restore.len()
        );
    }

    let (conn, mut opts) = core::Options::for_session(
        conn,
        &args.snapshot,
        args.session.as_deref(),
        args.session_expiry,
    );
    opts.restore = restore;

    let availability = history
        .as_ref()
        .map(|db| Arc::new(availability::Cache::new(db.path().to_owned())));
    let (metrics, prom) = metrics::Metrics::new(args.metrics_max_clients);
    let (mut hub, ready) = Hub::new(
        conn.broker.to_string(),
        scan.filters(),
        metrics,
        args.keep_transitions,
        history,
    );
    let (requests, mut inbox) = mpsc::channel::<Request>(64);
    let (stop_tx, stop) = watch::channel(false);
    let app = http::App {
        requests,
        ready,
        prom: Arc::new(prom),
        stop: stop.clone(),
        lagged: hub.lagged_counter(),
        availability,
    };
    let mut stopping = stop.clone();
    let mut server = tokio::spawn(
        axum::serve(listener, http::router(app))
            .with_graceful_shutdown(async move {
                let _ = stopping.wait_for(|s| *s).await;
            })
            .into_future(),
    );

    let empty = Registry::new(scan.sources.clone(), scan.vocab.clone());
    let start = Watcher::start(&conn, scan, &opts);
    tokio::pin!(start);
    let started = loop {
        tokio::select! {
            w = &mut start => break w.map(Some),
            Some(req) = inbox.recv() => if let Err(e) = hub.answer(req, None, &empty) {
                break Err(e);
            },
            _ = term.recv() => break Ok(None),
            _ = int.recv() => break Ok(None),
            end = &mut server => break Err(server_ended(end)),
        }
    };
    let result = match started {
        Ok(Some(w)) => {
            let mut driver = Driver {
                hub: &mut hub,
                log: log.as_mut(),
                inbox: &mut inbox,
                empty: &empty,
            };
            driver.drive(w, &mut term, &mut int, &mut server).await
        }
        Ok(None) => Ok(Exit::Success),
        Err(e) => Err(e),
    };
    // The event streams end, the server stops taking connections and finishes the
    // requests in hand (bounded).
    let _ = stop_tx.send(true);
    drop(inbox);
    hub.close();
    if !server.is_finished() {
        let _ = tokio::time::timeout(DRAIN, &mut server).await;
    }
    server.abort();
    result
}

/// The driver task once connected: the watcher's happenings, the HTTP side's requests,
/// the clock, until a signal or an error.
struct Driver<'a> {
    hub: &'a mut Hub,
    log: Option<&'a mut ChangeLog>,
    inbox: &'a mut mpsc::Receiver<Request>,
    empty: &'a Registry,
}

type Server = tokio::task::JoinHandle<std::io::Result<()>>;

impl Driver<'_> {
    async fn drive(
        &mut self,
        mut w: Watcher,
        term: &mut tokio::signal::unix::Signal,
        int: &mut tokio::signal::unix::Signal,
        server: &mut Server,
    ) -> anyhow::Result<Exit> {
        self.hub.connected();
        // A re-sync that changed nothing returns nothing from `next()`: readiness is also
        // looked at on a clock.
        let mut tick = tokio::time::interval(READINESS_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            let step = tokio::select! {
                next = w.next() => match next {
                    Ok(happenings) => self.on_happenings(&w, &happenings),
                    Err(e) => Err(e),
                },
                Some(req) = self.inbox.recv() => self.hub.answer(req, Some(&w), self.empty),
                _ = tick.tick() => self.hub.tick(&w),
                _ = term.recv() => break Ok(Exit::Success),
                _ = int.recv() => break Ok(Exit::Success),
                end = &mut *server => Err(server_ended(end)),
            };
            if let Err(e) = step {
                break Err(e);
            }
        };
        w.close().await;
        result
    }

    /// The change log first (`--log`), then the history database and what HTTP shows.
    fn on_happenings(&mut self, w: &Watcher, happenings: &[Happening]) -> anyhow::Result<()> {
        if let Some(log) = self.log.as_mut() {
            log.record(happenings)?;
        }
        self.hub.on_happenings(w, happenings)
    }
}

/// The history database `--db` (or the default) names, None with `--no-db`, and the
/// table it kept.
fn open_history(args: &ServeArgs) -> anyhow::Result<(Option<Writer>, Vec<Saved>)> {
    if args.no_db {
        return Ok((None, Vec::new()));
    }
    let Some(path) = args.db.clone().or_else(crate::history::default_path) else {
        anyhow::bail!(
            "no place for the history database: neither XDG_STATE_HOME nor HOME is set (give --db FILE, or --no-db)"
        );
    };
    let db = Writer::open(&path, args.keep)?;
    let saved = db.load()?;
    Ok((Some(db), saved))
}

fn server_ended(end: Result<std::io::Result<()>, tokio::task::JoinError>) -> anyhow::Error {
    match end {
        Ok(Err(e)) => anyhow::anyhow!("the HTTP server failed: {}", io_reason(&e)),
        Ok(Ok(())) => anyhow::anyhow!("the HTTP server stopped unexpectedly"),
        Err(e) => anyhow::anyhow!("the HTTP server failed: {e}"),
    }
}
