//! The HTTP side of `serve` (axum): each handler asks the driver task (see `hub`) and
//! answers with what it says; `/healthz`, `/readyz` and the metrics' encoding need no
//! round trip.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State as Shared};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use clap::ValueEnum;
use futures_util::stream::{self, Stream};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry as Prom;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::hub::{Batch, Readiness, Request};
use super::metrics;
use crate::render::json;
use crate::status::{SortKey, State};

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    pub requests: mpsc::Sender<Request>,
    pub ready: watch::Receiver<Readiness>,
    pub prom: Arc<Prom>,
    /// True once serve is shutting down: the event streams end.
    pub stop: watch::Receiver<bool>,
    pub lagged: Counter,
    /// `/api/availability`, None without a history database.
    pub availability: Option<Arc<super::availability::Cache>>,
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(super::dashboard::index))
        .route("/assets/app.js", get(super::dashboard::app))
        .route("/assets/style.css", get(super::dashboard::style))
        .route("/assets/icon.svg", get(super::dashboard::icon))
        .route("/favicon.ico", get(super::dashboard::favicon))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/clients", get(clients))
        .route("/api/clients/{*name}", get(client))
        .route("/api/events", get(events))
        .route("/api/availability", get(availability))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(app)
}

const JSON: &str = "application/json";

fn body(status: StatusCode, content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// `{"error":"..."}` with this status.
fn error(status: StatusCode, message: &str) -> Response {
    let mut out = Vec::new();
    let _ = json::line(&mut out, &serde_json::json!({ "error": message }));
    body(status, JSON, out)
}

fn shutting_down() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "mqtt-scan is shutting down",
    )
}

/// Asks the driver; an error response when it is gone.
async fn ask<T>(
    app: &App,
    make: impl FnOnce(oneshot::Sender<T>) -> Request,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    app.requests
        .send(make(tx))
        .await
        .map_err(|_| shutting_down())?;
    rx.await.map_err(|_| shutting_down())
}

async fn healthz() -> Response {
    body(StatusCode::OK, "text/plain; charset=utf-8", "ok\n")
}

async fn readyz(Shared(app): Shared<App>) -> Response {
    let r = app.ready.borrow().clone();
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut out = Vec::new();
    let _ = json::line(
        &mut out,
        &serde_json::json!({ "ready": r.ready, "reason": r.reason }),
    );
    body(status, JSON, out)
}

async fn clients(
    Shared(app): Shared<App>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let mut sort = SortKey::Name;
    let mut only = None;
    for (key, value) in &params {
        match key.as_str() {
            "sort" => match SortKey::from_str(value, true) {
                Ok(s) => sort = s,
                Err(_) => return bad_value("sort", value, "name, state, since"),
            },
            "only" => match State::from_str(value, true) {
                Ok(s) => only = Some(s),
                Err(_) => return bad_value("only", value, "online, offline, unknown"),
            },
            _ => {}
        }
    }
    match ask(&app, |reply| Request::Clients { sort, only, reply }).await {
        Ok(doc) => {
            let len = doc.len;
            let pieces = stream::iter(doc.pieces.into_iter().map(Ok::<_, Infallible>));
            let mut r = body(StatusCode::OK, JSON, Body::from_stream(pieces));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            r
        }
        Err(e) => e,
    }
}

fn bad_value(key: &str, value: &str, known: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &format!("{key}={value:?} is not one of: {known}"),
    )
}

/// `/api/clients/NAME`'s transitions: the last 100 unless `?limit=N` (at most this many).
const DEFAULT_TRANSITIONS: usize = 100;
const MAX_TRANSITIONS: usize = 100_000;

async fn client(
    Shared(app): Shared<App>,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let mut limit = DEFAULT_TRANSITIONS;
    for (key, value) in &params {
        if key == "limit" {
            match value.parse::<usize>() {
                Ok(n) if n <= MAX_TRANSITIONS => limit = n,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("limit={value:?} is not a number from 0 to {MAX_TRANSITIONS}"),
                    )
                }
            }
        }
    }
    let shown = crate::status::escape(&name).into_owned();
    match ask(&app, |reply| Request::Client { name, limit, reply }).await {
        Ok(Some(doc)) => body(StatusCode::OK, JSON, doc),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            &format!("no client named {shown:?} (see /api/clients)"),
        ),
        Err(e) => e,
    }
}

async fn availability(Shared(app): Shared<App>) -> Response {
    let Some(cache) = app.availability.as_ref() else {
        return error(
            StatusCode::NOT_FOUND,
            "no history database (serve runs with --no-db): availability needs one",
        );
    };
    match cache.document().await {
        Ok(doc) => body(StatusCode::OK, JSON, doc),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &format!("{e:#}")),
    }
}

async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "no such endpoint: {} (see /api/clients, /api/clients/NAME, /api/events, /api/availability, /metrics, /healthz, /readyz)",
            crate::status::escape(uri.path())
        ),
    )
}

async fn metrics(Shared(app): Shared<App>, headers: HeaderMap) -> Response {
    if let Err(e) = ask(&app, |reply| Request::Refresh { reply }).await {
        return e;
    }
    let open = metrics::openmetrics(&app.prom);
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if wants_openmetrics {
        body(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            open,
        )
    } else {
        body(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::classic(&open),
        )
    }
}

async fn events(Shared(app): Shared<App>) -> Response {
    let (initial, rx) = match ask(&app, |reply| Request::Subscribe { reply }).await {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    let feed = Feed {
        expect: initial.first,
        current: Arc::new(initial),
        pos: 0,
        rx,
        stop: app.stop.clone(),
        lagged: app.lagged.clone(),
    };
    let mut response = Sse::new(feed.into_stream())
        .keep_alive(KeepAlive::default())
        .into_response();
    // A reverse proxy (nginx) would otherwise hold the events back in its buffer.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One reader's place in the event stream.
struct Feed {
    current: Arc<Batch>,
    /// Where the next line starts in `current`.
    pos: usize,
    /// The sequence number of the next line it should see.
    expect: u64,
    rx: broadcast::Receiver<Arc<Batch>>,
    stop: watch::Receiver<bool>,
    lagged: Counter,
}

enum Next {
    Batch(Arc<Batch>),
    Behind,
    End,
}

impl Feed {
    /// One `data:` event per line; a reader too slow for the stream's buffer is told how
    /// many lines it missed (`event: lagged`) and goes on from the oldest one kept.
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        stream::unfold(self, |mut f| async move {
            loop {
                let rest = &f.current.text[f.pos..];
                if let Some(end) = rest.find('\n') {
                    let event = Event::default().data(&rest[..end]);
                    f.pos += end + 1;
                    return Some((Ok(event), f));
                }
                let next = tokio::select! {
                    biased;
                    _ = f.stop.wait_for(|stop| *stop) => Next::End,
                    r = f.rx.recv() => match r {
                        Ok(batch) => Next::Batch(batch),
                        Err(RecvError::Lagged(_)) => Next::Behind,
                        Err(RecvError::Closed) => Next::End,
                    },
                };
                match next {
                    Next::End => return None,
                    // The next batch received says how many lines were lost.
                    Next::Behind => {}
                    Next::Batch(batch) => {
                        let missed = batch.first.saturating_sub(f.expect);
                        f.expect = batch.first + batch.count;
                        f.current = batch;
                        f.pos = 0;
                        if missed > 0 {
                            f.lagged.inc_by(missed);
                            let event = Event::default()
                                .event("lagged")
                                .data(format!("{{\"event\":\"lagged\",\"missed\":{missed}}}"));
                            return Some((Ok(event), f));
                        }
                    }
                }
            }
        })
    }
}
