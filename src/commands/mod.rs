//! Each command wires the session, the registry and a renderer.

pub mod announce;
pub mod check;
pub mod demo;
pub mod docs;
pub mod list;
pub mod prune;
pub mod serve;
pub mod watch;

use std::future::Future;
use std::io::{self, Write};
use std::time::Duration;

use tokio::time::{timeout_at, Instant};

use crate::cli::SnapshotArgs;
use crate::config::{Connection, Scan};
use crate::session::{retained_reach_wildcards, Session, Spec};
use crate::status::Registry;

/// The first executable file called `name` in a directory of PATH: what a shell (and
/// `execvp`) would run for the bare name.
pub fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// A file (not a directory) with an execute bit.
pub fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Writes through a buffered stdout; a closed pipe (`| head`) is not an error.
/// Generic, not `dyn Write`: a renderer writes a token at a time, and each would be a
/// virtual call.
pub fn to_stdout(
    f: impl FnOnce(&mut Chunked<io::StdoutLock<'static>>) -> io::Result<()>,
) -> anyhow::Result<()> {
    let mut w = Chunked::new(io::stdout().lock());
    match f(&mut w).and_then(|()| w.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot write the output: {e}")),
        Ok(()) => Ok(()),
    }
}

/// SIGINT and SIGTERM: the ways a long-running command is asked to end.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// SIGINT, SIGTERM, SIGHUP (the terminal went away): each asks a long-running command to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Int,
    Term,
    Hup,
}

impl Sig {
    pub fn number(self) -> i32 {
        match self {
            Sig::Int => 2,
            Sig::Term => 15,
            Sig::Hup => 1,
        }
    }
}

impl Signals {
    pub fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal that arrives.
    pub async fn recv(&mut self) -> Sig {
        tokio::select! {
            _ = self.term.recv() => Sig::Term,
            _ = self.int.recv() => Sig::Int,
            _ = self.hup.recv() => Sig::Hup,
        }
    }
}

/// A write buffer for renderers that write a token at a time: appending to a `Vec` (which
/// the compiler inlines into the serializer) and handing it on in 256 KiB chunks keeps the
/// per-token cost low and memory flat.
pub struct Chunked<W: Write> {
    buf: Vec<u8>,
    inner: W,
}

const CHUNK: usize = 256 * 1024;

impl<W: Write> Chunked<W> {
    pub fn new(inner: W) -> Self {
        Self {
            buf: Vec::with_capacity(CHUNK + 4096),
            inner,
        }
    }
}

impl<W: Write> Write for Chunked<W> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.inner.flush()
    }
}

/// A retained snapshot: the session it came over, what it folded, and how far to trust it.
pub struct Snapshot {
    pub session: Session,
    pub registry: Registry,
    /// The broker finished sending its retained messages within `--wait`.
    pub complete: bool,
    /// The broker does not deliver retained messages to wildcard subscriptions (RabbitMQ):
    /// what to tell the user. The snapshot then holds only live messages, and the clients
    /// named in `exact_names`, looked up on their exact topics.
    pub blind: Option<String>,
}

/// `--db FILE` of `list`, `watch` and `check`, opened read-only before connecting (a
/// wrong path is said before any wait).
pub fn open_history(
    args: &crate::cli::HistoryArgs,
) -> anyhow::Result<Option<crate::history::read::Filler>> {
    args.db
        .as_deref()
        .map(crate::history::read::Filler::open)
        .transpose()
}

/// The retained snapshot, as `list`, `check` and `prune` take it: a clean QoS 0 session
/// (left open for what comes next), the table, and whether it is complete. `timeout`
/// (check's `--timeout`) bounds it all; when it runs out the error names the stage. When
/// wildcard filters brought no retained status at all, asks whether the broker delivers
/// retained messages to wildcards; when it does not, the clients in `exact_names` are
/// looked up on their exact topics instead.
pub async fn take_snapshot(
    conn: &Connection,
    scan: &Scan,
    args: &SnapshotArgs,
    count_retained: bool,
    timeout: Option<Duration>,
    exact_names: &[String],
) -> anyhow::Result<Snapshot> {
    let deadline = timeout.map(|limit| Instant::now() + limit);
    let expired = |stage: String| {
        anyhow::anyhow!(
            "--timeout {} ran out {stage} (raise --timeout, or see --connect-timeout and --wait)",
            humantime::format_duration(timeout.unwrap_or_default())
        )
    };
    let waiting = |registry: &Registry| {
        expired(format!(
            "while waiting for the retained snapshot from {} ({} statuses so far)",
            conn.broker,
            registry.len()
        ))
    };
    let spec = |filters| Spec {
        filters,
        reconnect: false,
        persistent: None,
        count_retained,
    };
    // Connects with `filters` and folds their retained snapshot into `registry`.
    let take = async |filters, registry: &mut Registry| -> anyhow::Result<(Session, bool)> {
        let mut session = within(deadline, Session::connect(conn, spec(filters)))
            .await
            .ok_or_else(|| expired(format!("while connecting to {}", conn.broker)))??;
        let complete = within(deadline, session.snapshot(registry, args.wait, args.settle))
            .await
            .ok_or_else(|| waiting(registry))??;
        Ok((session, complete))
    };
    let mut registry = Registry::new(scan.sources.clone(), scan.vocab.clone());
    registry.hide(&conn.client_id);
    let (mut session, mut complete) = take(scan.filters(), &mut registry).await?;
    let mut blind = None;
    if complete && scan.retained_wildcards() && session.retained_statuses() == 0 {
        let reach = retained_reach_wildcards(conn, args.wait, args.settle);
        if within(deadline, reach).await.flatten() == Some(false) {
            let mut topics: Vec<String> = exact_names
                .iter()
                .flat_map(|n| scan.sources.iter().filter_map(|s| s.pattern.topic_for(n)))
                .collect();
            topics.sort_unstable();
            topics.dedup();
            blind = Some(blind_warning(
                conn,
                if topics.is_empty() {
                    Blind::Unlisted
                } else {
                    Blind::LookedUp
                },
            ));
            if !topics.is_empty() {
                session.close().await;
                (session, complete) = take(topics, &mut registry).await?;
            }
        }
    }
    Ok(Snapshot {
        session,
        registry,
        complete,
        blind,
    })
}

/// What a broker blind to retained messages on wildcards means for the user.
#[derive(Debug, Clone, Copy)]
pub enum Blind {
    /// The named clients were looked up on their exact topics.
    LookedUp,
    /// Nothing was named: the statuses cannot be listed.
    Unlisted,
    /// `watch`: only changes show.
    LiveOnly,
}

/// The warning for a broker blind to retained messages on wildcards, and what it means here.
pub fn blind_warning(conn: &Connection, what: Blind) -> String {
    let broker = conn.broker.host_port();
    let meaning = match what {
        Blind::LookedUp => ", so only the named clients were looked up, each on its exact topic",
        Blind::Unlisted => ", so the clients' statuses cannot be listed: name them (check --expect NAME looks each one up on its exact topic), or watch for live changes",
        Blind::LiveOnly => ": clients show up here only when their status changes",
    };
    format!(
        "{broker} does not deliver retained messages to wildcard subscriptions (RabbitMQ does not){meaning}"
    )
}

/// What `list` and `check` say on stderr when a preset reads broker events: they are not
/// retained, so a snapshot holds only the clients that came or went while it ran.
pub fn events_notice(scan: &Scan) -> Option<String> {
    let names = scan.event_presets();
    if names.is_empty() {
        return None;
    }
    let flags: Vec<String> = names.iter().map(|n| format!("--preset {n}")).collect();
    let flags = flags.join(" ");
    Some(format!(
        "{flags} {} the broker's client events, which are not retained: a snapshot holds only clients that connected or disconnected while it ran; a running `mqtt-scan watch {flags}` sees them as they come",
        if names.len() == 1 { "reads" } else { "read" }
    ))
}

/// `work`, bounded by `deadline` if there is one; None: the deadline passed first.
pub async fn within<T>(deadline: Option<Instant>, work: impl Future<Output = T>) -> Option<T> {
    match deadline {
        Some(deadline) => timeout_at(deadline, work).await.ok(),
        None => Some(work.await),
    }
}
