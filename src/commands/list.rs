//! `mqtt-scan list`: connect, collect the retained snapshot, print it once, exit.

use crate::cli::{Format, ListArgs};
use crate::config::{Connection, Scan};
use crate::error::Exit;
use crate::render::{self, table};
use crate::session::now_ms;

pub async fn run(
    conn: &Connection,
    scan: &Scan,
    args: &ListArgs,
    color: bool,
) -> anyhow::Result<Exit> {
    let filters = scan.filters();
    let (session, registry, complete) = super::take_snapshot(conn, scan, &args.snapshot).await?;
    session.close().await;
    if !complete {
        eprintln!(
            "mqtt-scan: warning: the snapshot may be incomplete: --wait {} ended before the broker finished sending retained messages (raise --wait)",
            humantime::format_duration(args.snapshot.wait)
        );
    }
    let now = now_ms();
    let broker = conn.broker.to_string();
    let out = render::Scan {
        broker: &broker,
        topics: &filters,
        scanned_at: now,
        complete,
        summary: registry.summary(),
        clients: registry.rows(args.sort, args.only),
    };
    super::to_stdout(|w| match args.format() {
        Format::Table => table::write(
            &out,
            &table::Options {
                color,
                now,
                source: scan.uses_presets(),
            },
            w,
        ),
        Format::Json => render::json::document(&out, w),
        Format::Jsonl => render::json::lines(&out, w),
        Format::Csv => render::csv::write(&out, w),
    })?;
    Ok(Exit::Success)
}
