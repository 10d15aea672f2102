//! `completions` and `man`: the shell scripts and manual pages, generated from the clap
//! definition so they never disagree with it.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::usage;

const BIN: &str = "mqtt-scan";

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut out);
    if shell == clap_complete::Shell::Bash {
        out = fix_bash(&String::from_utf8_lossy(&out)).into_bytes();
    }
    out
}

/// clap_complete 4.6 spells a subcommand's state two ways in its bash script when the binary
/// name has a dash (clap-rs/clap#6421, #6529): the loop builds `mqtt__scan__subcmd__list`,
/// the case arms test `mqtt__subcmd__scan__subcmd__list`, so no subcommand's options ever
/// complete. The arms are respelled the loop's way; with a fixed clap_complete there is
/// nothing to replace.
fn fix_bash(script: &str) -> String {
    script.replace("mqtt__subcmd__scan", "mqtt__scan")
}

/// The sections clap_mangen does not write: exit codes and the environment.
fn exit_status(name: &str) -> String {
    let rows: &[(&str, &str)] = if name == "check" {
        &[
            ("0", "OK"),
            ("1", "WARNING"),
            ("2", "CRITICAL"),
            (
                "3",
                "UNKNOWN: cannot connect, snapshot incomplete, --timeout ran out, nothing to judge, bad arguments",
            ),
        ]
    } else if name == "announce" {
        &[
            ("0", "taken offline cleanly (SIGINT, SIGTERM)"),
            ("1", "runtime error: cannot connect, refused, TLS"),
            ("2", "usage error"),
            (
                "COMMAND's",
                "with -- COMMAND: its exit status (128 + signal when killed, 127 when it cannot start)",
            ),
        ]
    } else {
        &[
            ("0", "success (the scan ran, whatever the states)"),
            (
                "1",
                "runtime error: cannot connect, refused, TLS, connection lost",
            ),
            (
                "2",
                "usage error: a bad flag or value, an unreadable file named by a flag",
            ),
            ("130", "list interrupted (Ctrl-C)"),
            (
                "",
                "check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (see mqtt-scan-check(1))",
            ),
            ("", "announce -- COMMAND: the command's exit status"),
        ]
    };
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    for (code, what) in rows {
        if code.is_empty() {
            let _ = writeln!(roff, ".PP\n{}", escape(what));
        } else {
            let _ = writeln!(roff, ".TP\n\\fB{}\\fR\n{}", escape(code), escape(what));
        }
    }
    roff
}

/// Every environment variable mqtt-scan reads, with what it stands for.
pub fn environment() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Cli::command()
        .get_arguments()
        .filter_map(|a| {
            let var = a.get_env()?.to_string_lossy().into_owned();
            let flag = a.get_long().map(|l| format!("--{l}")).unwrap_or_default();
            Some((var, format!("the default of {flag}")))
        })
        .collect();
    vars.push((
        "MQTT_SCAN_TOPIC".into(),
        "status topic patterns when no -t is given, several separated by commas".into(),
    ));
    vars.push((
        "NO_COLOR".into(),
        "set and not empty: --color auto does not colour (no-color.org)".into(),
    ));
    vars.sort();
    vars
}

fn environment_section() -> String {
    let mut roff = String::from(".SH ENVIRONMENT\n");
    for (var, what) in environment() {
        let _ = writeln!(roff, ".TP\n\\fB{}\\fR\n{}", escape(&var), escape(&what));
    }
    roff.push_str(".PP\nA flag on the command line wins over its variable.\n");
    roff
}

/// Roff text: backslashes doubled, a leading dot or quote kept from reading as a request.
fn escape(text: &str) -> String {
    let t = text.replace('\\', "\\\\").replace('-', "\\-");
    if t.starts_with(['.', '\'']) {
        format!("\\&{t}")
    } else {
        t
    }
}

/// One page: clap_mangen's sections, then EXIT STATUS and ENVIRONMENT (before VERSION,
/// which `Man::render` would write last).
fn page(man: &clap_mangen::Man, cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(w)?;
    }
    if cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some() {
        man.render_extra_section(w)?;
    }
    w.write_all(exit_status(cmd.get_name()).as_bytes())?;
    w.write_all(environment_section().as_bytes())?;
    if cmd.get_name() == BIN {
        w.write_all(
            b".SH \"SEE ALSO\"\nmqtt\\-scan\\-list(1), mqtt\\-scan\\-watch(1), mqtt\\-scan\\-check(1), mqtt\\-scan\\-announce(1), mqtt\\-scan\\-prune(1), mqtt\\-scan\\-demo(1)\n",
        )?;
    }
    man.render_version_section(w)
}

/// The built command: global flags propagated into each subcommand, display names set
/// (`mqtt-scan-list`).
fn built() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// `man`: the main page.
pub fn main_page(w: &mut dyn Write) -> std::io::Result<()> {
    let cmd = built();
    page(&clap_mangen::Man::new(cmd.clone()), &cmd, w)
}

/// `man --dir DIR`: mqtt-scan.1 and one page per subcommand, named as clap_mangen names
/// them; returns the files written.
pub fn write_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let fail = |path: &Path, e: &std::io::Error| {
        usage(format!(
            "cannot write {}: {}",
            path.display(),
            crate::tls::io_reason(e)
        ))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, &e))?;
    let cmd = built();
    let mut written = Vec::new();
    for sub in std::iter::once(&cmd).chain(cmd.get_subcommands().filter(|s| !s.is_hide_set())) {
        let man = clap_mangen::Man::new(sub.clone());
        let path = dir.join(man.get_filename());
        let mut text = Vec::new();
        page(&man, sub, &mut text).map_err(|e| fail(&path, &e))?;
        std::fs::write(&path, text).map_err(|e| fail(&path, &e))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bash_workaround_respells_the_case_arms_the_loops_way() {
        let script = String::from_utf8(completions(clap_complete::Shell::Bash)).unwrap();
        assert!(!script.contains("mqtt__subcmd__scan"));
        assert!(script.contains("mqtt__scan__subcmd__list)"));
        assert!(script.contains("cmd=\"mqtt__scan__subcmd__list\""));
    }
}
