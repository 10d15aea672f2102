//! `mqtt-scan announce NAME [-- COMMAND ...]`: the client side of the convention, for
//! scripts and devices without MQTT code of their own.

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;

use crate::cli::{AnnounceArgs, PayloadStyle};
use crate::config::Connection;
use crate::error::{usage, Exit};
use crate::session::{local_ip, AnnounceEvent, AnnounceSpec, Announcer, MakePayload};
use crate::status::escape;

use super::{Sig, Signals};

pub async fn run(conn: &Connection, args: &AnnounceArgs) -> anyhow::Result<Exit> {
    let topic = status_topic(&args.topic_template, &args.name)?;
    // A command that cannot start must not be announced online first: look for it before
    // connecting, and run what was found (spawn can still fail later, e.g. a bad binary
    // format, and says so then).
    let found = match args
        .command
        .first()
        .map(|program| (program, find_program(program)))
    {
        Some((program, Err(why))) => {
            eprintln!("mqtt-scan: cannot run '{}': {why}", escape(program));
            return Ok(Exit::Command(127));
        }
        Some((_, Ok(path))) => Some(path),
        None => None,
    };
    let mut signals = Signals::new()?;
    let ip = {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || local_ip(&conn))
            .await
            .ok()
            .flatten()
    };
    let spec = payloads(args, topic.clone(), ip);
    let mut announcer = tokio::select! {
        a = Announcer::connect(conn, spec) => a?,
        // Interrupted before anything ran: a wrapped command's caller sees it was killed.
        sig = signals.recv() => {
            return Ok(if args.command.is_empty() {
                Exit::Success
            } else {
                Exit::Command(u8::try_from(128 + sig.number()).unwrap_or(1))
            });
        }
    };
    let name = escape(&args.name).into_owned();
    let (Some(path), Some((program, program_args))) = (found, args.command.split_first()) else {
        eprintln!(
            "mqtt-scan: {name} is online ({}, on {}); Ctrl-C or SIGTERM takes it offline",
            escape(&topic),
            conn.broker
        );
        loop {
            tokio::select! {
                event = announcer.next() => report(event.as_ref(), &name),
                _ = signals.recv() => break,
            }
        }
        announcer.shutdown(conn.connect_timeout).await?;
        return Ok(Exit::Success);
    };
    // stdin, stdout and stderr pass through to the command, whose argv[0] is as given.
    let mut child = match tokio::process::Command::new(path)
        .arg0(program)
        .args(program_args)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            if let Err(why) = announcer.shutdown(conn.connect_timeout).await {
                eprintln!("mqtt-scan: warning: {why:#}");
            }
            eprintln!(
                "mqtt-scan: cannot run '{}': {}",
                escape(program),
                crate::tls::io_reason(&e)
            );
            return Ok(Exit::Command(127));
        }
    };
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            sig = signals.recv() => forward(sig, child.id()),
            event = announcer.next() => report(event.as_ref(), &name),
        }
    };
    if let Err(why) = announcer.shutdown(conn.connect_timeout).await {
        eprintln!("mqtt-scan: warning: {why:#}");
    }
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    Ok(Exit::Command(u8::try_from(code).unwrap_or(1)))
}

/// Where `program` is, if it can be started: a path names an executable file; a bare name
/// is looked up on PATH, as the spawn would.
fn find_program(program: &str) -> Result<std::path::PathBuf, String> {
    if program.is_empty() {
        return Err("an empty command name".into());
    }
    if program.contains('/') {
        let path = std::path::Path::new(program);
        return match std::fs::metadata(path) {
            Err(e) => Err(crate::tls::io_reason(&e)),
            Ok(m) if m.is_dir() => Err("it is a directory".into()),
            Ok(_) if !super::is_executable(path) => {
                Err("permission denied (not executable)".into())
            }
            Ok(_) => Ok(path.to_owned()),
        };
    }
    super::find_on_path(program).ok_or_else(|| "command not found on PATH".to_owned())
}

/// The status topic for NAME: no wildcards, not empty.
fn status_topic(template: &str, name: &str) -> anyhow::Result<String> {
    if name.is_empty() || name.contains(['+', '#', '\0']) {
        return Err(usage(format!(
            "invalid client name '{}': it must be non-empty, without '+', '#' or NUL",
            escape(name)
        )));
    }
    let topic = template.replace("{name}", name);
    if topic.is_empty() || topic.contains(['+', '#', '\0']) {
        return Err(usage(format!(
            "invalid --topic-template '{}': a status topic has no wildcards",
            escape(template)
        )));
    }
    Ok(topic)
}

fn payloads(args: &AnnounceArgs, topic: String, ip: Option<std::net::IpAddr>) -> AnnounceSpec {
    let fixed = |text: &str| -> MakePayload {
        let bytes = text.as_bytes().to_vec();
        Arc::new(move || bytes.clone())
    };
    let json = |status: u8| -> MakePayload {
        let name = args.name.clone();
        Arc::new(move || {
            serde_json::json!({
                "status": status,
                "ts": chrono::Utc::now().timestamp(),
                "ip": ip.map(|a| a.to_string()),
                "client": name,
            })
            .to_string()
            .into_bytes()
        })
    };
    let (online, offline, will) = match args.payload {
        PayloadStyle::Plain => (fixed("1"), fixed("0"), b"0".to_vec()),
        // The Will is registered at connect time: it cannot know when it will be sent.
        PayloadStyle::Json => (
            json(1),
            json(0),
            serde_json::json!({"status": 0, "client": args.name})
                .to_string()
                .into_bytes(),
        ),
    };
    let online = args.online_payload.as_deref().map_or(online, fixed);
    let (offline, will) = match args.offline_payload.as_deref() {
        Some(text) => (fixed(text), text.as_bytes().to_vec()),
        None => (offline, will),
    };
    AnnounceSpec {
        topic,
        online,
        offline,
        will,
    }
}

fn report(event: Option<&AnnounceEvent>, name: &str) {
    match event {
        Some(AnnounceEvent::Lost { reason, attempt }) => {
            eprintln!("mqtt-scan: warning: {reason}; reconnecting (attempt {attempt})");
        }
        Some(AnnounceEvent::Online) => eprintln!("mqtt-scan: reconnected: {name} is online again"),
        None => {}
    }
}

/// Passes a signal on to the wrapped command; it decides when to end, and we follow. A
/// Ctrl-C typed at our terminal already reached the command (the whole foreground process
/// group gets it): passing it on again would make it a second Ctrl-C.
fn forward(sig: Sig, pid: Option<u32>) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::{getpgrp, tcgetpgrp, Pid};
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    let typed_at_terminal = || tcgetpgrp(std::io::stdin()).is_ok_and(|fg| fg == getpgrp());
    let signal = match sig {
        Sig::Int if typed_at_terminal() => return,
        Sig::Int => Signal::SIGINT,
        Sig::Term => Signal::SIGTERM,
        Sig::Hup => Signal::SIGHUP,
    };
    let _ = kill(Pid::from_raw(pid), signal);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_come_from_the_template_and_reject_wildcards() {
        assert_eq!(
            status_topic("sensors/connected/{name}", "s1").unwrap(),
            "sensors/connected/s1"
        );
        assert_eq!(
            status_topic("tele/{name}/LWT", "plug").unwrap(),
            "tele/plug/LWT"
        );
        assert!(status_topic("sensors/connected/{name}", "a+b").is_err());
        assert!(status_topic("sensors/connected/{name}", "").is_err());
        assert!(status_topic("sensors/#/{name}", "x").is_err());
    }
}
