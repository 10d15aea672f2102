//! `mqtt-scan check`: the `list` snapshot, judged, as one monitoring-plugin line.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::check::{self, Memory, Rules, Services, StateFile, Status, Verdict, STATE_VERSION};
use crate::cli::{CheckArgs, CheckFormat};
use crate::config::{Connection, Scan};
use crate::error::{usage, Exit};
use crate::render::json;
use crate::session::now_ms;
use crate::status::Registry;
use crate::tls::io_reason;

pub async fn run(conn: &Connection, scan: &Scan, args: &CheckArgs) -> anyhow::Result<Exit> {
    let misuse = if args.format == CheckFormat::IcingaPassive
        && args.host_name.is_none()
        && !args.per_client_host
    {
        Some("--format icinga-passive needs --host-name HOST or --per-client-host")
    } else if args.piggyback && args.format != CheckFormat::Checkmk {
        Some("--piggyback is for --format checkmk")
    } else if (args.host_name.is_some() || args.per_client_host)
        && args.format != CheckFormat::IcingaPassive
    {
        Some("--host-name and --per-client-host are for --format icinga-passive")
    } else {
        None
    };
    if let Some(why) = misuse {
        return Err(usage(why));
    }
    if scan.only_events() {
        // Nothing a snapshot could hold says who is connected: not OK, not missing.
        let flags: Vec<String> = scan
            .event_presets()
            .iter()
            .map(|n| format!("--preset {n}"))
            .collect();
        let flags = flags.join(" ");
        anyhow::bail!(
            "check cannot judge {flags}: it reads the broker's client events, which are not retained, so no snapshot knows who is connected; follow them with `mqtt-scan watch {flags}` (its --format jsonl can feed a monitor)"
        );
    }
    if let Some(notice) = super::events_notice(scan) {
        eprintln!("mqtt-scan: {notice}");
    }
    let mut rules = rules(args)?;
    rules.topics = scan.filters();
    let remembered = match &args.state_file {
        Some(path) => read_state(path)?,
        None => Memory::default(),
    };
    let names = rules.expected.as_deref().unwrap_or_default();
    let (registry, complete, blind) = snapshot(conn, scan, args, names).await?;
    if let Some(why) = blind.filter(|_| names.is_empty()) {
        anyhow::bail!(why);
    }
    if !complete {
        // A partial table would judge present clients missing: say so instead.
        anyhow::bail!(
            "the snapshot is incomplete: --wait {} ended before the broker finished sending retained messages (raise --wait)",
            humantime::format_duration(args.snapshot.wait)
        );
    }
    let verdict = check::judge(&registry, &rules, &remembered, now_ms());
    if let Some(path) = &args.state_file {
        write_state(path, &verdict)?;
    }
    print(&verdict, args)?;
    Ok(match args.format {
        // The states are in the lines; the exit code says only that the check ran.
        CheckFormat::Checkmk | CheckFormat::IcingaPassive => Exit::Check(Status::Ok),
        CheckFormat::Text | CheckFormat::Json => Exit::Check(verdict.status),
    })
}

fn services(args: &CheckArgs) -> Services {
    Services {
        prefix: args.service_prefix.clone(),
        piggyback: args.piggyback,
        // clap refuses --host-name with --per-client-host.
        host: args.host_name.clone(),
    }
}

/// The `list` snapshot, with `--timeout` (if given) bounding the connect and the snapshot
/// together.
async fn snapshot(
    conn: &Connection,
    scan: &Scan,
    args: &CheckArgs,
    names: &[String],
) -> anyhow::Result<(Registry, bool, Option<String>)> {
    let started = Instant::now();
    let history = super::open_history(&args.history)?;
    let super::Snapshot {
        session,
        mut registry,
        complete,
        blind,
    } = super::take_snapshot(conn, scan, &args.snapshot, false, args.timeout, names).await?;
    if let Some(h) = &history {
        h.fill(&mut registry)?;
    }
    // The verdict is known: a slow goodbye must not turn it into UNKNOWN.
    let goodbye = args
        .timeout
        .map(|limit| (started + limit).max(Instant::now() + Duration::from_millis(100)));
    let _ = super::within(goodbye, session.close()).await;
    Ok((registry, complete, blind))
}

/// The rules from the flags; `--warn-offline` defaults to 1 when clients are expected.
fn rules(args: &CheckArgs) -> anyhow::Result<Rules> {
    let mut expected: Vec<String> = args.expect.iter().map(|n| n.trim().to_owned()).collect();
    if let Some(path) = &args.expect_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            usage(format!(
                "cannot read --expect-file {}: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
        expected.extend(parse_expect_file(&text));
    }
    expected.retain(|n| !n.is_empty());
    let mut seen = std::collections::HashSet::new();
    expected.retain(|n| seen.insert(n.clone()));
    let expecting = args.expect_file.is_some() || !args.expect.is_empty();
    if expecting && expected.is_empty() {
        return Err(usage(
            "no expected clients: --expect-file has no names in it",
        ));
    }
    Ok(Rules {
        warn_offline: args
            .warn_offline
            .or((expecting && args.warning.is_none()).then_some(1)),
        crit_offline: args.crit_offline,
        warning: args.warning.clone(),
        critical: args.critical.clone(),
        min_online: args.min_online,
        max_age: args.max_age,
        grace: args.grace,
        expected: expecting.then_some(expected),
        topics: Vec::new(),
    })
}

/// One name per line; `#` starts a comment anywhere on a line.
pub fn parse_expect_file(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(ToOwned::to_owned)
        .collect()
}

fn read_state(path: &Path) -> anyhow::Result<Memory> {
    match std::fs::read_to_string(path) {
        Ok(text) => StateFile::parse(&text).map(|s| s.memory).map_err(|why| {
            anyhow::anyhow!(
                "--state-file {}: {why}; delete it to start over",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Memory::default()),
        Err(e) => Err(anyhow::anyhow!(
            "cannot read --state-file {}: {}",
            path.display(),
            io_reason(&e)
        )),
    }
}

/// Written to a temporary file beside it and renamed over it: a run killed halfway leaves
/// the old file, never half a file.
fn write_state(path: &Path, verdict: &Verdict) -> anyhow::Result<()> {
    let state = StateFile {
        mqtt_scan_state: STATE_VERSION,
        memory: verdict.memory.clone(),
    };
    let fail = |e: std::io::Error| {
        anyhow::anyhow!(
            "cannot write --state-file {}: {}",
            path.display(),
            io_reason(&e)
        )
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&state).map_err(std::io::Error::from)?)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

fn print(v: &Verdict, args: &CheckArgs) -> anyhow::Result<()> {
    super::to_stdout(|w| match args.format {
        CheckFormat::Text => {
            // Perfdata stays on the first line; long output follows it (Monitoring
            // Plugins guidelines).
            writeln!(w, "{}", check::line(v.status, &v.summary, &v.perfdata))?;
            for l in check::long_output(v) {
                writeln!(w, "{l}")?;
            }
            Ok(())
        }
        CheckFormat::Json => json::line(w, v),
        CheckFormat::Checkmk => w.write_all(check::checkmk(v, &services(args)).as_bytes()),
        CheckFormat::IcingaPassive => {
            w.write_all(check::icinga_passive(v, &services(args)).as_bytes())
        }
    })
}

/// Any failure of `check` (cannot connect, bad arguments, a bad state file) is UNKNOWN:
/// the plugin line on stdout for the monitor, the usual `mqtt-scan:` line on stderr.
/// `prefix`: `--service-prefix`, so the Checkmk fleet service keeps its name when it fails.
pub fn unknown(message: &str, format: CheckFormat, prefix: &str) -> Exit {
    let line = match format {
        CheckFormat::Text => Some(check::line(Status::Unknown, message, "")),
        CheckFormat::Checkmk => Some(check::checkmk_fleet(3, prefix, "", message)),
        // No client was judged: there is no result to submit for any service.
        CheckFormat::IcingaPassive => None,
        CheckFormat::Json => Some(
            serde_json::json!({
                "status": "UNKNOWN",
                "code": 3,
                "summary": message,
            })
            .to_string(),
        ),
    };
    if let Some(line) = line {
        let _ = super::to_stdout(|w| writeln!(w, "{line}"));
    }
    eprintln!("mqtt-scan: {message}");
    Exit::Check(Status::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_files_skip_comments_and_blank_lines() {
        let text = "# the fleet\nsensor1\n  sensor2   # in the attic\n\n#sensor3\nsensor4#x\n   \n";
        assert_eq!(parse_expect_file(text), ["sensor1", "sensor2", "sensor4"]);
    }
}
