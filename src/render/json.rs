//! `--format json` (one document) and `--format jsonl` (one row per line).

use std::io::{self, Write};

use super::Scan;

pub fn document<W: Write>(scan: &Scan<'_>, mut w: W) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut w, scan)?;
    writeln!(w)
}

pub fn lines<W: Write>(scan: &Scan<'_>, mut w: W) -> io::Result<()> {
    for row in &scan.clients {
        serde_json::to_writer(&mut w, row)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}
