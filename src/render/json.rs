//! `--format json` (one document) and `--format jsonl` (one row per line).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use super::Scan;

pub fn document<W: Write>(scan: &Scan<'_>, mut w: W) -> io::Result<()> {
    to_writer(&mut w, scan, Safe(PrettyFormatter::new()))?;
    writeln!(w)
}

pub fn lines<W: Write>(scan: &Scan<'_>, mut w: W) -> io::Result<()> {
    for row in &scan.clients {
        line(&mut w, row)?;
    }
    Ok(())
}

/// One value as a compact JSON line (the event stream and `--log` use it too).
pub fn line<W: Write, T: Serialize + ?Sized>(mut w: W, value: &T) -> io::Result<()> {
    to_writer(&mut w, value, Safe(CompactFormatter))?;
    w.write_all(b"\n")
}

fn to_writer<W: Write, T: Serialize + ?Sized, F: Formatter>(
    w: W,
    value: &T,
    f: Safe<F>,
) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(w, f);
    value.serialize(&mut ser).map_err(io::Error::from)
}

/// serde_json escapes C0 controls only; DEL, C1 controls and bidi overrides would reach a
/// terminal raw through `jq` or `cat`. This formatter writes them as `\uXXXX` too.
struct Safe<F>(F);

fn needs_escape(c: char) -> bool {
    let n = u32::from(c);
    (0x7f..=0x9f).contains(&n) || (0x202a..=0x202e).contains(&n) || (0x2066..=0x2069).contains(&n)
}

impl<F: Formatter> Formatter for Safe<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Nearly always plain ASCII: one check over the bytes, one write.
        if fragment.bytes().all(|b| b < 0x7f) {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if needs_escape(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                write!(w, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn del_c1_and_bidi_are_json_escaped_and_still_parse() {
        let text = "a\u{7f}b\u{9b}c\u{202e}d\u{1b}e";
        let mut out = Vec::new();
        line(&mut out, &serde_json::json!({ "k": text })).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, "{\"k\":\"a\\u007fb\\u009bc\\u202ed\\u001be\"}\n");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["k"], text);
    }
}
