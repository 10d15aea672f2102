//! `mqtt-scan prune`: clears the retained statuses of offline (and, if asked, unknown)
//! clients. A dry run unless `--yes`; never an online client's.

use std::io::Write as _;
use std::time::Duration;

use crate::cli::{PruneArgs, PruneState};
use crate::config::{Connection, Scan};
use crate::error::Exit;
use crate::session::{now_ms, Session};
use crate::status::{escape, Registry, SortKey, State};

pub async fn run(conn: &Connection, scan: &Scan, args: &PruneArgs) -> anyhow::Result<Exit> {
    let (mut session, mut registry) = snapshot(conn, scan, args).await?;
    // A device that came back since the snapshot is not a candidate any more.
    session.catch_up(&mut registry);
    let now = now_ms();
    let topics: Vec<String> = registry
        .rows(SortKey::Name, None)
        .into_iter()
        .filter(|r| {
            r.state == State::Offline
                || (args.state == PruneState::Unknown && r.state == State::Unknown)
        })
        // Only what the retained store holds can be cleared (Sparkplug deaths are not).
        .filter(|r| r.retained)
        .filter(|r| match args.older_than {
            // A status without a time is never older than anything.
            Some(age) => r
                .payload_ts()
                .is_some_and(|ts| (now - ts).to_std().is_ok_and(|d| d > age)),
            None => true,
        })
        .map(|r| r.topic.to_string())
        .collect();
    let print = |topics: &[String]| {
        super::to_stdout(|w| topics.iter().try_for_each(|t| writeln!(w, "{}", escape(t))))
    };
    if !args.yes || topics.is_empty() {
        session.close().await;
        print(&topics)?;
        if topics.is_empty() {
            eprintln!("mqtt-scan: nothing to clear");
        } else {
            eprintln!(
                "mqtt-scan: dry run: {} retained status{} would be cleared; add --yes to clear {}",
                topics.len(),
                if topics.len() == 1 { "" } else { "es" },
                if topics.len() == 1 { "it" } else { "them" }
            );
        }
        return Ok(Exit::Success);
    }
    let revived = session
        .clear_retained(&topics, conn.connect_timeout.max(Duration::from_secs(5)))
        .await?;
    session.close().await;
    for topic in &revived {
        eprintln!(
            "mqtt-scan: warning: {} got a new status while it was being cleared; if it is online, it should announce itself again",
            escape(topic)
        );
    }
    // A broker may acknowledge a clear it did not do (an ACL on MQTT 3.1.1): look again.
    // What is there again and online came back; anything else stayed.
    let (again, after) = snapshot(conn, scan, args).await?;
    again.close().await;
    let present = |t: &String| {
        after
            .name_of(t)
            .and_then(|n| after.get(&n))
            .filter(|r| *r.topic == **t)
    };
    let still: Vec<&String> = topics
        .iter()
        .filter(|t| present(t).is_some_and(|r| r.state != State::Online))
        .collect();
    let cleared: Vec<String> = topics
        .iter()
        .filter(|t| present(t).is_none())
        .cloned()
        .collect();
    print(&cleared)?;
    if still.is_empty() {
        eprintln!(
            "mqtt-scan: cleared {} retained status{}",
            cleared.len(),
            if cleared.len() == 1 { "" } else { "es" }
        );
        Ok(Exit::Success)
    } else {
        anyhow::bail!(
            "{} of {} statuses are still on the broker (is this user allowed to publish to them?): {}",
            still.len(),
            topics.len(),
            still.iter().map(|t| escape(t).into_owned()).collect::<Vec<_>>().join(", ")
        )
    }
}

async fn snapshot(
    conn: &Connection,
    scan: &Scan,
    args: &PruneArgs,
) -> anyhow::Result<(Session, Registry)> {
    let super::Snapshot {
        session,
        registry,
        complete,
        blind,
    } = super::take_snapshot(conn, scan, &args.snapshot, false, None, &[]).await?;
    if let Some(why) = blind {
        eprintln!("mqtt-scan: warning: {why}");
    } else if !complete {
        eprintln!(
            "mqtt-scan: warning: the snapshot may be incomplete: --wait {} ended first (raise --wait); only what arrived is considered",
            humantime::format_duration(args.snapshot.wait)
        );
    }
    Ok((session, registry))
}
