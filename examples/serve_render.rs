//! `GET /api/clients` from a running `serve` against `list --format json`'s renderer over
//! the same table, paired in one process (`benches/serve.py` runs it).
//!
//! ```text
//! cargo run --release --example serve_render -- SERVE_PORT [RUNS] [changing]
//! ```
//! Reads the document once, folds each client's topic and payload (as retained) into a
//! table of its own, checks that rendering it gives the served document (times aside),
//! then alternates: A = one `GET /api/clients` over a plain TcpStream (HTTP/1.0, the whole
//! body read into a buffer kept across runs), B = `render::json::document` of the table
//! through `list`'s 256 KiB chunk buffer to a sink (what `list` does after its snapshot,
//! sorting included, minus the writes to stdout). Prints the medians and the ratio A / B.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mqtt_scan::commands::Chunked;
use mqtt_scan::render::{self, json};
use mqtt_scan::status::{Observation, Pattern, Registry, SortKey, Source, Vocabulary};

/// One GET into `raw` (kept across calls, so the reader's own page faults stay out of the
/// figure); returns where the body starts.
fn get_into(port: u16, raw: &mut Vec<u8>) -> usize {
    raw.clear();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("serve is not listening");
    s.write_all(b"GET /api/clients HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    s.read_to_end(raw).unwrap();
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response")
        + 4
}

fn get(port: u16) -> Vec<u8> {
    let mut raw = Vec::new();
    let at = get_into(port, &mut raw);
    raw.split_off(at)
}

fn untimed(doc: &[u8]) -> String {
    String::from_utf8_lossy(doc)
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("\"scanned_at\"") && !t.starts_with("\"last_seen\"")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: serve_render SERVE_PORT [RUNS]");
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(10);
    // `changing`: serve's table is changing under the run (no byte-for-byte check).
    let changing = args.next().is_some_and(|a| a == "changing");

    let served = get(port);
    let doc: serde_json::Value = serde_json::from_slice(&served).expect("a JSON document");
    let topics: Vec<String> = doc["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    let sources = topics
        .iter()
        .map(|t| Source::topic(Pattern::parse(t).unwrap()))
        .collect();
    let mut registry = Registry::new(sources, Vocabulary::default());
    let now = mqtt_scan::session::now_ms();
    for c in doc["clients"].as_array().unwrap() {
        let payload = c["payload"].as_str().expect("text payloads only");
        registry.fold(
            &Observation {
                topic: c["topic"].as_str().unwrap(),
                payload: payload.as_bytes(),
                retained: c["retained"].as_bool().unwrap(),
            },
            now,
        );
        // A live status's since is when serve saw it: as served.
        let since = c["since"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        registry.set_since(c["name"].as_str().unwrap(), since);
    }
    let broker = doc["broker"].as_str().unwrap().to_owned();
    let render = |out: &mut dyn Write| {
        let scan = render::Scan {
            broker: &broker,
            topics: &topics,
            scanned_at: mqtt_scan::session::now_ms(),
            complete: true,
            summary: registry.summary(),
            clients: registry.rows(SortKey::Name, None),
        };
        json::document(&scan, out).unwrap();
    };
    let mut out: Vec<u8> = Vec::new();
    render(&mut out);
    if changing {
        // The table moves on between the GET and here: the same size is all that holds.
        assert!(out.len().abs_diff(served.len()) < 1024);
    } else {
        assert_eq!(
            untimed(&out),
            untimed(&served),
            "the renderer's document is not the served one"
        );
    }

    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut raw = Vec::new();
    for i in 0..runs + 2 {
        let t = Instant::now();
        let at = get_into(port, &mut raw);
        let ta = t.elapsed();
        assert!(raw.len() - at > served.len() / 2);
        // As list writes it: through its 256 KiB chunk buffer (to a sink, not stdout).
        let t = Instant::now();
        let mut sink = Chunked::new(std::io::sink());
        render(&mut sink);
        sink.flush().unwrap();
        let tb = t.elapsed();
        // Two warm-up pairs.
        if i >= 2 {
            a.push(ta);
            b.push(tb);
        }
    }
    let (ma, mb) = (median(a.clone()), median(b.clone()));
    println!(
        "  {} clients: GET /api/clients {:.1} ms [{:.1}..{:.1}], list's render {:.1} ms [{:.1}..{:.1}], ratio {:.2}",
        registry.len(),
        ma.as_secs_f64() * 1e3,
        a.iter().min().unwrap().as_secs_f64() * 1e3,
        a.iter().max().unwrap().as_secs_f64() * 1e3,
        mb.as_secs_f64() * 1e3,
        b.iter().min().unwrap().as_secs_f64() * 1e3,
        b.iter().max().unwrap().as_secs_f64() * 1e3,
        ma.as_secs_f64() / mb.as_secs_f64()
    );
}
