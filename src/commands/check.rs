//! `mqtt-scan check`: the `list` snapshot, judged, as one monitoring-plugin line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::check::{self, Rules, StateFile, Status, Verdict, STATE_VERSION};
use crate::cli::{CheckArgs, CheckFormat};
use crate::config::{Connection, Scan};
use crate::error::{usage, Exit};
use crate::render::json;
use crate::session::now_ms;
use crate::tls::io_reason;

pub async fn run(conn: &Connection, scan: &Scan, args: &CheckArgs) -> anyhow::Result<Exit> {
    let rules = rules(args)?;
    let remembered = match &args.state_file {
        Some(path) => read_state(path)?,
        None => BTreeMap::new(),
    };
    let (session, registry, complete) =
        super::take_snapshot(conn, scan, &args.snapshot, false).await?;
    session.close().await;
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
    print(&verdict, args.format)?;
    Ok(Exit::Check(verdict.status))
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
        warn_offline: args.warn_offline.or(expecting.then_some(1)),
        crit_offline: args.crit_offline,
        min_online: args.min_online,
        max_age: args.max_age,
        grace: args.grace,
        expected: expecting.then_some(expected),
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

fn read_state(path: &Path) -> anyhow::Result<BTreeMap<String, chrono::DateTime<chrono::Utc>>> {
    match std::fs::read_to_string(path) {
        Ok(text) => StateFile::parse(&text)
            .map(|s| s.first_offline)
            .map_err(|why| {
                anyhow::anyhow!(
                    "--state-file {}: {why}; delete it to start over",
                    path.display()
                )
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
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
        first_offline: verdict.first_offline.clone(),
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

fn print(v: &Verdict, format: CheckFormat) -> anyhow::Result<()> {
    super::to_stdout(|w| match format {
        CheckFormat::Text => writeln!(w, "{}", check::line(v.status, &v.summary, &v.perfdata)),
        CheckFormat::Json => json::line(w, v),
    })
}

/// Any failure of `check` (cannot connect, bad arguments, a bad state file) is UNKNOWN:
/// the plugin line on stdout for the monitor, the usual `mqtt-scan:` line on stderr.
pub fn unknown(message: &str, format: CheckFormat) -> Exit {
    let line = match format {
        CheckFormat::Text => check::line(Status::Unknown, message, ""),
        CheckFormat::Json => serde_json::json!({
            "status": "UNKNOWN",
            "code": 3,
            "summary": message,
        })
        .to_string(),
    };
    let _ = super::to_stdout(|w| writeln!(w, "{line}"));
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
