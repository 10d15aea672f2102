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
    let history = super::open_history(&args.history)?;
    let super::Snapshot {
        session,
        mut registry,
        mut complete,
        blind,
    } = super::take_snapshot(conn, scan, &args.snapshot, covers_all, None, &[]).await?;
    if let Some(h) = &history {
        h.fill(&mut registry)?;
    }
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
    if let Some(notice) = super::events_notice(scan) {
        eprintln!("mqtt-scan: {notice}");
    }
    if let Some(why) = blind {
        complete = false;
        eprintln!("mqtt-scan: warning: {why}");
    } else if !complete {
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
    // A hint is for a person: shown when stderr is a terminal, so a script or a cron job
    // (stderr captured) sees exactly what it saw before, whatever the format.
    if out.summary.total == 0 && stderr_is_terminal() {
        eprint!("{}", empty_hint(&filters));
    }
    super::to_stdout(|w| match args.format() {
        Format::Table => table::write(
            &out,
            &table::Options {
                color,
                now,
                source: scan.uses_presets(),
                columns: args.columns.clone(),
                width: terminal_width(),
            },
            w,
        ),
        Format::Json => render::json::document(&out, w),
        Format::Jsonl => render::json::lines(&out, w),
        Format::Csv => render::csv::write(&out, w),
    })?;
    Ok(Exit::Success)
}

/// The width to fit the table into: the terminal's, when stdout is one (`COLUMNS` when
/// the terminal cannot say). A pipe gets every column whole, whatever `COLUMNS` says: a
/// script's output does not depend on the window it was started from.
fn terminal_width() -> Option<usize> {
    if !crate::config::stdout_is_terminal() {
        return None;
    }
    match ratatui::crossterm::terminal::size() {
        Ok((cols, _)) if cols > 0 => Some(usize::from(cols)),
        _ => std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .filter(|&c: &usize| c > 0),
    }
}

fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// Why the table is empty, and how to look further: nothing the broker holds matched.
pub fn empty_hint(filters: &[String]) -> String {
    let quoted: Vec<String> = filters
        .iter()
        .map(|f| format!("'{}'", crate::status::escape(f)))
        .collect();
    format!(
        "mqtt-scan: no retained status matched {} {}\n\
         mqtt-scan: to see every retained topic the broker holds: mqtt-scan list -t '#' (with the same -b and login flags)\n\
         mqtt-scan: to try a known convention (Tasmota, Homie, ESPHome, ...): mqtt-scan presets, then --preset NAME\n",
        if filters.len() == 1 { "the topic filter" } else { "the topic filters" },
        quoted.join(", ")
    )
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
    use super::{empty_hint, missing_retained};

    #[test]
    fn the_empty_hint_names_the_filters_and_how_to_look() {
        let hint = empty_hint(&["sensors/conected/#".to_owned()]);
        assert!(
            hint.contains("the topic filter 'sensors/conected/#'"),
            "{hint}"
        );
        assert!(hint.contains("mqtt-scan list -t '#'"), "{hint}");
        assert!(hint.contains("mqtt-scan presets"), "{hint}");
        assert!(hint.lines().all(|l| l.starts_with("mqtt-scan: ")), "{hint}");
        let two = empty_hint(&["a/#".to_owned(), "b/\x1b".to_owned()]);
        assert!(two.contains("filters 'a/#', 'b/\\x1b'"), "{two}");
    }

    #[test]
    fn a_shortfall_only_when_fewer_arrived_than_the_broker_holds() {
        assert_eq!(missing_retained(None, 50, 10), None, "no count: no verdict");
        assert_eq!(missing_retained(Some(1050), 50, 1000), None);
        assert_eq!(missing_retained(Some(1050), 50, 1200), None, "duplicates");
        assert_eq!(missing_retained(Some(1050), 50, 999), Some((1000, 999)));
        assert_eq!(missing_retained(Some(10), 50, 0), None, "a stale count");
    }
}
