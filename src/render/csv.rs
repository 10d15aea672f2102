//! `--format csv`: a header, then one row per line (RFC 4180 quoting; control characters
//! escaped so a row is always one line).

use std::borrow::Cow;
use std::io::{self, Write};

use super::{time, Scan};
use crate::status::escape;

pub const HEADER: &str =
    "name,state,detail,topic,payload,retained,since,last_seen,ip,changes,reported_name,source";

fn field(s: &str) -> Cow<'_, str> {
    let s = escape(s);
    if s.contains([',', '"']) || s.starts_with(' ') || s.ends_with(' ') {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        s
    }
}

pub fn write<W: Write>(scan: &Scan<'_>, mut w: W) -> io::Result<()> {
    writeln!(w, "{HEADER}")?;
    for r in &scan.clients {
        let detail = r.detail_text().unwrap_or_default();
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            field(&r.name),
            r.state,
            field(&detail),
            field(&r.topic),
            field(&r.payload.to_text()),
            r.retained,
            r.since.map(time).unwrap_or_default(),
            time(r.last_seen),
            field(r.ip().unwrap_or("")),
            r.changes,
            field(r.reported_name().unwrap_or("")),
            field(&r.source),
        )?;
    }
    Ok(())
}
