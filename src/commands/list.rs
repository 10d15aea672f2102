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
    let covers_all = filters.iter().any(|f| f == "#");
    let (session, registry, mut complete) =
        super::take_snapshot(conn, scan, &args.snapshot, covers_all).await?;
    let shortfall = covers_all
        .then(|| {
            let counts = session.counts();
            missing_retained(
                counts.broker_total(),
                counts.sys(),
                session.retained_statuses(),
            )
        })
        .flatten();
    session.close().await;
    if !complete {
        eprintln!(
            "mqtt-scan: warning: the snapshot may be incomplete: --wait {} ended before the broker finished sending retained messages (raise --wait)",
            humantime::format_duration(args.snapshot.wait)
        );
    } else if let Some((held, got)) = shortfall {
        complete = false;
        eprintln!(
            "mqtt-scan: warning: the snapshot is incomplete: the broker holds {held} retained messages outside $SYS but only {got} arrived (messages dropped on the way: check the broker's queue limits, or a proxy)"
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

/// With a `#` filter every retained message outside `$SYS` is a status, so the broker's
/// count (minus the `$SYS` ones we received) is how many should have arrived. Returns
/// (held, arrived) when fewer arrived. The count is broker-wide and only that meaningful
/// under `#`: with narrower filters any other retained topic would look like a loss.
pub fn missing_retained(broker_total: Option<u64>, sys: u64, statuses: u64) -> Option<(u64, u64)> {
    let held = broker_total?.checked_sub(sys)?;
    (statuses < held).then_some((held, statuses))
}

#[cfg(test)]
mod tests {
    use super::missing_retained;

    #[test]
    fn a_shortfall_only_when_fewer_arrived_than_the_broker_holds() {
        assert_eq!(missing_retained(None, 50, 10), None, "no count: no verdict");
        assert_eq!(missing_retained(Some(1050), 50, 1000), None);
        assert_eq!(missing_retained(Some(1050), 50, 1200), None, "duplicates");
        assert_eq!(missing_retained(Some(1050), 50, 999), Some((1000, 999)));
        assert_eq!(missing_retained(Some(10), 50, 0), None, "a stale count");
    }
}
