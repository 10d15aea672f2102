//! Shell completion run by real bash, and the man pages written per subcommand.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn completion_script(dir: &Path) -> std::path::PathBuf {
    let out = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    write(dir, "mqtt-scan.bash", &out.stdout)
}

/// What bash offers for `words` (the last one being completed), via the script's own
/// completion function, as bash's programmable completion calls it.
fn complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = words[cword - 1];
    let cur = words[cword];
    let program = format!(
        "source '{}'\n\
         fn=$(complete -p mqtt-scan | sed -E 's/.*-F ([^ ]+).*/\\1/')\n\
         COMP_WORDS=({})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         \"$fn\" mqtt-scan '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" ")
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(out.status.success(), "bash: {}", stderr(&out));
    stdout(&out).lines().map(ToOwned::to_owned).collect()
}

#[test]
fn bash_completes_a_subcommands_options() {
    let dir = tempfile::tempdir().unwrap();
    let script = completion_script(dir.path());
    let offered = complete(&script, &["mqtt-scan", "list", "--"]);
    for want in [
        "--format", "--sort", "--only", "--wait", "--broker", "--host",
    ] {
        assert!(offered.iter().any(|o| o == want), "{want} in {offered:?}");
    }
    let offered = complete(&script, &["mqtt-scan", "check", "--"]);
    for want in ["--expect", "--warning", "--critical", "--timeout"] {
        assert!(offered.iter().any(|o| o == want), "{want} in {offered:?}");
    }
    // And a value: list --format <TAB>.
    let offered = complete(&script, &["mqtt-scan", "list", "--format", ""]);
    assert_eq!(offered, ["table", "json", "jsonl", "csv"]);
}

#[test]
fn bash_completes_preset_names() {
    let dir = tempfile::tempdir().unwrap();
    let script = completion_script(dir.path());
    // The names `mqtt-scan presets` lists (tests/presets.rs pins them), then `help`.
    let out = Command::new(BIN).arg("presets").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut names: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .map(str::to_owned)
        .collect();
    assert!(names.len() > 10, "{names:?}");
    names.push("help".into());
    assert_eq!(complete(&script, &["mqtt-scan", "--preset", ""]), names);
    assert_eq!(
        complete(&script, &["mqtt-scan", "list", "--preset", ""]),
        names
    );
    assert_eq!(
        complete(&script, &["mqtt-scan", "--preset", "zig"]),
        ["zigbee2mqtt"]
    );
}

/// Every environment variable the source reads or declares.
fn env_vars_in_source() -> Vec<String> {
    let mut vars = std::collections::BTreeSet::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            for (i, _) in text.match_indices("MQTT_SCAN_") {
                let name: String = text[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                vars.insert(name.trim_end_matches('_').to_owned());
            }
        }
    }
    vars.insert("NO_COLOR".into());
    vars.into_iter().collect()
}

#[test]
fn man_dir_writes_a_page_per_subcommand_with_exit_status_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let vars = env_vars_in_source();
    assert!(vars.len() >= 7, "{vars:?}");
    for (page, options) in [
        ("mqtt-scan.1", &["\\-\\-broker", "\\-\\-help"][..]),
        (
            "mqtt-scan-list.1",
            &["\\-\\-format", "\\-\\-settle", "\\-\\-broker"],
        ),
        ("mqtt-scan-watch.1", &["\\-\\-session", "\\-\\-log"]),
        (
            "mqtt-scan-check.1",
            &["\\-\\-expect", "\\-\\-warning", "\\-\\-timeout"],
        ),
        ("mqtt-scan-announce.1", &["\\-\\-topic\\-template"]),
        ("mqtt-scan-prune.1", &["\\-\\-older\\-than", "\\-\\-yes"]),
        ("mqtt-scan-demo.1", &["\\-\\-devices"]),
        ("mqtt-scan-presets.1", &[]),
        ("mqtt-scan-completions.1", &[]),
        ("mqtt-scan-man.1", &["\\-\\-dir"]),
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        let title = page.trim_end_matches(".1");
        assert!(text.contains(&format!(".TH {title} 1")), "{page}");
        for option in options {
            assert!(text.contains(option), "{page}: {option}");
        }
        assert!(text.contains(".SH \"EXIT STATUS\""), "{page}");
        let env = &text[text.find(".SH ENVIRONMENT").expect(page)..];
        for var in &vars {
            let roff = var.replace('-', "\\-");
            assert!(env.contains(&format!("\\fB{roff}\\fR")), "{page}: {var}");
        }
    }
    let check = std::fs::read_to_string(dir.path().join("mqtt-scan-check.1")).unwrap();
    assert!(check.contains("UNKNOWN"), "check's own exit codes");
    // Without --dir: the main page on stdout, as before.
    let out = Command::new(BIN).arg("man").output().unwrap();
    let page = stdout(&out);
    assert!(page.contains(".TH mqtt-scan 1") && page.contains(".SH ENVIRONMENT"));
    // Rendered by man(1) when it is installed: no roff warnings.
    if Command::new("man").arg("--version").output().is_ok() {
        let out = Command::new("man")
            .arg("-l")
            .arg(dir.path().join("mqtt-scan-check.1"))
            .env("MANWIDTH", "100")
            .env("MAN_KEEP_STDERR", "1")
            .env("MANROFFOPT", "-ww")
            .output()
            .unwrap();
        assert!(stdout(&out).contains("EXIT STATUS"), "{}", stderr(&out));
        assert_eq!(stderr(&out), "", "roff warnings");
    }
}
