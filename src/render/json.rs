//! `--format json` (one document) and `--format jsonl` (one row per line).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use serde_json::Value;

use super::Scan;
use crate::status::escape::is_unsafe;
use crate::status::payload::DetailJson;
use crate::status::rfc3339::Rfc3339;
use crate::status::{Payload, Row};

/// `--format json`: the document serde_json's pretty printer would write for a [`Scan`],
/// byte for byte, written directly. A list writes rows by the hundred thousand, and
/// through serde every string and indent was a handful of calls (7,000 instructions a row).
pub fn document<W: Write>(scan: &Scan<'_>, mut w: W) -> io::Result<()> {
    let mut out = Vec::with_capacity(4096);
    head(scan, &mut out);
    w.write_all(&out)?;
    rows(&scan.clients, w)
}

/// The document up to its rows: everything that is about the scan rather than the clients
/// (`serve` renders the rows once per version of the table and this part per request).
pub fn head(scan: &Scan<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\n  \"broker\": ");
    string(out, scan.broker);
    out.extend_from_slice(b",\n  \"topics\": [");
    for (i, t) in scan.topics.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
        string(out, t);
    }
    if !scan.topics.is_empty() {
        out.extend_from_slice(b"\n  ");
    }
    out.extend_from_slice(b"],\n  \"scanned_at\": ");
    string(out, Rfc3339::new(scan.scanned_at).as_str());
    let s = &scan.summary;
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        ",\n  \"complete\": {},\n  \"summary\": {{\n    \"total\": {},\n    \"online\": {},\n    \"offline\": {},\n    \"unknown\": {}\n  }},\n  \"clients\": [",
        scan.complete, s.total, s.online, s.offline, s.unknown
    );
}

/// The document from its rows on: the rows and the closing brackets.
pub fn rows<W: Write>(clients: &[&Row], mut w: W) -> io::Result<()> {
    let mut out = Vec::with_capacity(64 * 1024 + 4096);
    for (i, r) in clients.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
        row(&mut out, r, Layout::Pretty)?;
        if out.len() >= 64 * 1024 {
            w.write_all(&out)?;
            out.clear();
        }
    }
    end(!clients.is_empty(), &mut out);
    w.write_all(&out)
}

/// Rows for a stretch of the `clients` array, each written after `,\n    ` (`serve` keeps
/// the array in such stretches): joined, the first comma dropped and [`end`] after them,
/// they are what [`rows`] writes.
pub fn items<'r>(clients: impl IntoIterator<Item = &'r Row>, out: &mut Vec<u8>) -> io::Result<()> {
    for r in clients {
        out.extend_from_slice(b",\n    ");
        row(out, r, Layout::Pretty)?;
    }
    Ok(())
}

/// The document's end, after its rows (`any`: there was at least one).
pub fn end(any: bool, out: &mut Vec<u8>) {
    if any {
        out.extend_from_slice(b"\n  ");
    }
    out.extend_from_slice(b"]\n}\n");
}

/// `--format jsonl`: one compact row a line.
pub fn lines<W: Write>(scan: &Scan<'_>, mut w: W) -> io::Result<()> {
    let mut out = Vec::with_capacity(4096);
    for r in &scan.clients {
        row(&mut out, r, Layout::Compact)?;
        out.push(b'\n');
        if out.len() >= 64 * 1024 {
            w.write_all(&out)?;
            out.clear();
        }
    }
    w.write_all(&out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// As a client in the pretty document (indented by two levels).
    Pretty,
    Compact,
}

/// One row, as `Serialize for Row` and the chosen formatter would write it. Rows with a
/// JSON payload or a structured detail (rarer, and nested) go through serde itself.
fn row(out: &mut Vec<u8>, r: &Row, layout: Layout) -> io::Result<()> {
    let detail = r.detail.as_json(&r.payload);
    let scalar_detail = match &detail {
        Some(DetailJson::Value(v)) => !(v.is_object() || v.is_array()),
        _ => true,
    };
    let Payload::Text(payload) = &r.payload else {
        return row_serde(out, r, layout);
    };
    if !scalar_detail {
        return row_serde(out, r, layout);
    }
    // Each key with what goes before and after it, one copy each.
    let keys = match layout {
        Layout::Pretty => &PRETTY_KEYS,
        Layout::Compact => &COMPACT_KEYS,
    };
    let opt = |o: &mut Vec<u8>, v: Option<&str>| match v {
        Some(v) => string(o, v),
        None => o.extend_from_slice(b"null"),
    };
    out.extend_from_slice(keys[0].as_bytes());
    string(out, &r.name);
    out.extend_from_slice(keys[1].as_bytes());
    string(out, r.state.as_str());
    out.extend_from_slice(keys[2].as_bytes());
    match &detail {
        None => out.extend_from_slice(b"null"),
        Some(DetailJson::Word(w)) => string(out, w),
        Some(DetailJson::Value(Value::String(s))) => string(out, s),
        Some(DetailJson::Value(v)) => serde_json::to_writer(&mut *out, v)?,
    }
    out.extend_from_slice(keys[3].as_bytes());
    string(out, &r.topic);
    out.extend_from_slice(keys[4].as_bytes());
    string(out, payload);
    out.extend_from_slice(keys[5].as_bytes());
    out.extend_from_slice(if r.retained { b"true" } else { b"false" });
    out.extend_from_slice(keys[6].as_bytes());
    opt(out, r.since.map(Rfc3339::new).as_ref().map(Rfc3339::as_str));
    out.extend_from_slice(keys[7].as_bytes());
    string(out, Rfc3339::new(r.last_seen).as_str());
    out.extend_from_slice(keys[8].as_bytes());
    opt(out, r.ip());
    out.extend_from_slice(keys[9].as_bytes());
    let _ = write!(out, "{}", r.changes);
    out.extend_from_slice(keys[10].as_bytes());
    opt(out, r.reported_name());
    out.extend_from_slice(keys[11].as_bytes());
    string(out, &r.source);
    if layout == Layout::Pretty {
        out.extend_from_slice(b"\n    ");
    }
    out.push(b'}');
    Ok(())
}

/// The SPEC's row fields in order, as the pretty document (two levels in) writes them.
const PRETTY_KEYS: [&str; 12] = [
    "{\n      \"name\": ",
    ",\n      \"state\": ",
    ",\n      \"detail\": ",
    ",\n      \"topic\": ",
    ",\n      \"payload\": ",
    ",\n      \"retained\": ",
    ",\n      \"since\": ",
    ",\n      \"last_seen\": ",
    ",\n      \"ip\": ",
    ",\n      \"changes\": ",
    ",\n      \"reported_name\": ",
    ",\n      \"source\": ",
];

/// The same, compact.
const COMPACT_KEYS: [&str; 12] = [
    "{\"name\":",
    ",\"state\":",
    ",\"detail\":",
    ",\"topic\":",
    ",\"payload\":",
    ",\"retained\":",
    ",\"since\":",
    ",\"last_seen\":",
    ",\"ip\":",
    ",\"changes\":",
    ",\"reported_name\":",
    ",\"source\":",
];

/// A row through serde; in the document, indented to its place.
fn row_serde(out: &mut Vec<u8>, r: &Row, layout: Layout) -> io::Result<()> {
    if layout == Layout::Compact {
        return to_writer(&mut *out, r, Safe(CompactFormatter));
    }
    let mut own = Vec::new();
    to_writer(&mut own, r, Safe(PrettyFormatter::new()))?;
    // JSON strings hold no raw newline: each one starts a line to indent.
    for (i, piece) in own.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\n    ");
        }
        out.extend_from_slice(piece);
    }
    Ok(())
}

/// A JSON string as serde_json writes it, plus the escapes of [`Safe`].
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    // Nearly always printable ASCII with nothing to escape: one check, one copy.
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.extend_from_slice(s.as_bytes());
    } else {
        let mut buf = [0u8; 4];
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                c if is_unsafe(c) => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
            }
        }
    }
    out.push(b'"');
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
            // serde_json has escaped C0 already; the rest of the unsafe set is ours.
            if is_unsafe(c) {
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
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::status::{Observation, Pattern, Registry, Source, Vocabulary};

    /// The fast writer and serde agree, in both layouts, on whatever a row holds.
    fn same_as_serde(name: &str, payload: &[u8], retained: bool) {
        let mut reg = Registry::new(
            vec![Source::topic(Pattern::parse("s/+").unwrap())],
            Vocabulary::default(),
        );
        let topic = format!("s/{name}");
        let t = chrono::Utc
            .timestamp_opt(1_795_255_201, 250_000_000)
            .unwrap();
        reg.fold(
            &Observation {
                topic: &topic,
                payload,
                retained,
            },
            t,
        );
        let Some(r) = reg.get(name) else { return };
        let mut fast = Vec::new();
        row(&mut fast, r, Layout::Compact).unwrap();
        let mut slow = Vec::new();
        row_serde(&mut slow, r, Layout::Compact).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&slow)
        );
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        row(&mut fast, r, Layout::Pretty).unwrap();
        row_serde(&mut slow, r, Layout::Pretty).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&slow)
        );
    }

    #[test]
    fn the_fast_row_is_serdes_row() {
        for (name, payload) in [
            ("plain", &b"1"[..]),
            ("q\"uote\\back", b"off\"line\\"),
            (
                "ctl\u{7f}\u{9b}\u{202e}\u{2066}",
                b"\x1b[2J\x00\x08\x0c\n\r\t\x7f",
            ),
            ("utf8-\u{e9}\u{1f600}", "caf\u{e9} \u{85}".as_bytes()),
            ("bad", b"\xff\xfe on"),
            (
                "json",
                br#"{"status":"online","ip":"10.0.0.1","client":"x\u001b"}"#,
            ),
            ("long", &[b'w'; 200]),
        ] {
            same_as_serde(name, payload, true);
            same_as_serde(name, payload, false);
        }
    }

    proptest! {
        #[test]
        fn any_text_row_is_serdes_row(name in "[^/+#\u{0}]{1,12}", payload in proptest::collection::vec(any::<u8>(), 1..40)) {
            same_as_serde(&name, &payload, true);
        }
    }

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
