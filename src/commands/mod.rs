//! Each command wires the session, the registry and a renderer.

pub mod check;
pub mod list;
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
