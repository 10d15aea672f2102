//! Each command wires the session, the registry and a renderer.

pub mod announce;
pub mod check;
pub mod demo;
pub mod list;
pub mod prune;
pub mod watch;

use std::io::{self, Write};

/// Writes through a buffered stdout; a closed pipe (`| head`) is not an error.
pub fn to_stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut w = io::BufWriter::with_capacity(1 << 16, stdout.lock());
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
