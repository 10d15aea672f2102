//! TLS (CA and server certificate generated here), client certificates, and
//! username/password from a mosquitto password file, against a real mosquitto.

mod common;

const PS_WARNING: &str = "mqtt-scan: warning: --password is visible to other users in ps; use MQTT_SCAN_PASSWORD or --password-file";

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A second CA that signed nothing the broker uses.
    other_ca: PathBuf,
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(issuer: &Issuer<'static, KeyPair>, cn: &str, server: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(if server {
        vec!["localhost".to_owned()]
    } else {
        vec![]
    })
    .unwrap();
    if server {
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    }
    params.distinguished_name.push(DnType::CommonName, cn);
    (
        params.signed_by(&key, issuer).unwrap().pem(),
        key.serialize_pem(),
    )
}

fn pki(dir: &Path) -> Pki {
    let (ca_pem, issuer) = ca("mqtt-scan test CA");
    let (other_pem, _) = ca("some other CA");
    let (server_cert, server_key) = leaf(&issuer, "broker", true);
    let (client_cert, client_key) = leaf(&issuer, "scanner", false);
    Pki {
        ca: write(dir, "ca.pem", ca_pem),
        server_cert: write(dir, "server.pem", server_cert),
        server_key: write(dir, "server.key", server_key),
        client_cert: write(dir, "client.pem", client_cert),
        client_key: write(dir, "client.key", client_key),
        other_ca: write(dir, "other-ca.pem", other_pem),
    }
}

fn tls_broker(require_client_cert: bool) -> (Mosquitto, Pki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (ca, cert, key) = (
        pki.ca.clone(),
        pki.server_cert.clone(),
        pki.server_key.clone(),
    );
    let m = Mosquitto::in_dir(dir, move |port, _| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {require_client_cert}\n",
            ca.display(),
            cert.display(),
            key.display()
        )
    });
    (m, pki)
}

fn publish_tls(m: &Mosquitto, pki: &Pki, topic: &str, payload: &str) {
    let out = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &m.port.to_string(),
            "-r",
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .arg("--cafile")
        .arg(&pki.ca)
        .arg("--cert")
        .arg(&pki.client_cert)
        .arg("--key")
        .arg(&pki.client_key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_with_the_right_ca_lists_and_without_it_fails_clearly() {
    let (m, pki) = tls_broker(false);
    publish_tls(&m, &pki, "sensors/connected/secure1", "1");
    let url = format!("mqtts://127.0.0.1:{}", m.port);
    let ca = pki.ca.to_str().unwrap();
    let doc = list_json(&url, &["--cafile", ca]);
    assert_eq!(client(&doc, "secure1").unwrap()["state"], "online");
    // By name too: the certificate is for localhost and 127.0.0.1.
    let doc = list_json(&format!("mqtts://localhost:{}", m.port), &["--cafile", ca]);
    assert_eq!(doc["summary"]["total"], 1);

    let out = scan(&url, &["list", "--cafile", pki.other_ca.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("mqtt-scan: certificate verify failed"),
        "{err}"
    );
    assert!(err.contains("pass --cafile"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn insecure_skips_verification_and_warns() {
    let (m, pki) = tls_broker(false);
    publish_tls(&m, &pki, "sensors/connected/x", "0");
    let out = scan(
        &format!("mqtts://127.0.0.1:{}", m.port),
        &["list", "--json", "--insecure"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("mqtt-scan: warning: --insecure"));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["offline"], 1);
}

#[test]
fn plain_mqtt_to_a_tls_port_says_to_use_mqtts() {
    let (m, _pki) = tls_broker(false);
    let out = scan(&m.url(), &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("use mqtts://"), "{}", stderr(&out));
}

#[test]
fn a_client_certificate_is_presented_when_required() {
    let (m, pki) = tls_broker(true);
    publish_tls(&m, &pki, "sensors/connected/c1", "1");
    let url = format!("mqtts://127.0.0.1:{}", m.port);
    let ca = pki.ca.to_str().unwrap();
    let doc = list_json(
        &url,
        &[
            "--cafile",
            ca,
            "--cert",
            pki.client_cert.to_str().unwrap(),
            "--key",
            pki.client_key.to_str().unwrap(),
        ],
    );
    assert_eq!(client(&doc, "c1").unwrap()["state"], "online");

    let out = scan(&url, &["list", "--cafile", ca]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("client certificate"),
        "{}",
        stderr(&out)
    );

    let out = scan(
        &url,
        &[
            "list",
            "--cafile",
            ca,
            "--cert",
            pki.client_cert.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "mqtt-scan: --cert needs --key (the client certificate's private key)\n"
    );
}

#[test]
fn missing_and_bad_tls_files_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = write(dir.path(), "junk.pem", "not a certificate");
    for (args, want) in [
        (
            vec!["--cafile", "/nonexistent/ca.pem"],
            "mqtt-scan: cannot read --cafile /nonexistent/ca.pem: no such file",
        ),
        (
            vec!["--cafile", junk.to_str().unwrap()],
            "no PEM certificate in it",
        ),
        (
            vec![
                "--cert",
                junk.to_str().unwrap(),
                "--key",
                junk.to_str().unwrap(),
            ],
            "no PEM certificate in it",
        ),
    ] {
        let mut all = vec!["list"];
        all.extend(args);
        let out = scan("mqtts://127.0.0.1:1", &all);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1);
    }
    let out = scan(
        "mqtt://127.0.0.1:1",
        &["list", "--cafile", junk.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("are for TLS: use mqtts://"),
        "{}",
        stderr(&out)
    );
}

fn auth_broker() -> Mosquitto {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let out = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwd)
        .args(["scanner", "correct horse"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Mosquitto::in_dir(dir, move |port, _| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
            passwd.display()
        )
    })
}

#[test]
fn username_and_password_from_a_mosquitto_password_file() {
    let m = auth_broker();
    let out = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &m.port.to_string(),
            "-u",
            "scanner",
            "-P",
            "correct horse",
        ])
        .args(["-r", "-t", "sensors/connected/auth1", "-m", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let pw_file = write(
        m.dir.path(),
        "pw.txt",
        "correct horse\r\nsecond line ignored\n",
    );
    let doc = list_json(
        &m.url(),
        &[
            "-u",
            "scanner",
            "--password-file",
            pw_file.to_str().unwrap(),
        ],
    );
    assert_eq!(client(&doc, "auth1").unwrap()["state"], "online");
    // In the URL: accepted, and masked wherever the URL is shown.
    let doc = list_json(
        &format!("mqtt://scanner:correct%20horse@127.0.0.1:{}", m.port),
        &[],
    );
    assert_eq!(
        doc["broker"],
        format!("mqtt://scanner:***@127.0.0.1:{}", m.port)
    );
    // From the environment.
    let out = Command::new(BIN)
        .args(["list", "--json", "-b", &m.url(), "-u", "scanner"])
        .env("MQTT_SCAN_PASSWORD", "correct horse")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_wrong_password_is_not_authorized_and_never_echoed() {
    let m = auth_broker();
    let out = scan(
        &m.url(),
        &["list", "-u", "scanner", "--password", "hunter2-wrong"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "{PS_WARNING}\nmqtt-scan: not authorized by 127.0.0.1:{}: check --username/--password\n",
            m.port
        )
    );
    let url = format!("mqtt://scanner:hunter2-wrong@127.0.0.1:{}", m.port);
    let out = scan(&url, &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("hunter2"));
    assert!(!stdout(&out).contains("hunter2"));
    let out = scan(&m.url(), &["list"]);
    assert!(
        stderr(&out).contains("not authorized"),
        "anonymous is refused too"
    );
}

#[test]
fn password_file_problems_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty", "");
    let out = scan(
        "127.0.0.1:1",
        &["list", "-u", "x", "--password-file", "/nonexistent/pw"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "mqtt-scan: cannot read --password-file /nonexistent/pw: no such file\n"
    );
    let out = scan(
        "127.0.0.1:1",
        &[
            "list",
            "-u",
            "x",
            "--password-file",
            empty.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("the first line is empty"));
}

/// Command-line flags and environment variables.
type Way<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);

/// A password file only its owner can read.
fn private_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = write(dir, name, contents);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// Runs mqtt-scan with `args` and `env`, for at most `run_for` when it is long-running
/// (then SIGTERM), and returns everything it printed.
fn run_capture(
    args: &[&str],
    env: &[(&str, &str)],
    run_for: Option<std::time::Duration>,
) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("MQTT_SCAN_PASSWORD")
        .env_remove("MQTT_SCAN_TOPIC")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(d) = run_for {
        // Long-running commands: let them work, then ask them to end.
        let end = std::time::Instant::now() + d;
        while std::time::Instant::now() < end && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A retained status for `s1`, published as the broker's user `scanner`.
fn retain_s1(m: &Mosquitto, payload: &str) {
    m.pub_cmd(&[
        "-u",
        "scanner",
        "-P",
        "correct horse",
        "-r",
        "-q",
        "1",
        "-t",
        "sensors/connected/s1",
        "-m",
        payload,
    ]);
}

#[test]
fn the_password_never_appears_in_any_output_of_any_command() {
    let m = auth_broker();
    retain_s1(&m, "0");
    let dir = tempfile::tempdir().unwrap();
    let good = private_file(dir.path(), "good", "correct horse\n");
    let bad = private_file(dir.path(), "bad", "correct horse-not\n");
    let log = dir.path().join("changes.log");
    let log_arg = log.to_str().unwrap();
    let hp = format!("127.0.0.1:{}", m.port);
    let closed = format!("127.0.0.1:{}", free_port());
    let secrets = ["correct horse", "correct%20horse", "correct+horse"];
    let short = Some(std::time::Duration::from_millis(800));
    let mut runs = 0;
    for (host, pw) in [
        (&hp, "correct horse"),
        (&hp, "correct horse-not"),
        (&closed, "correct horse"),
    ] {
        let url_with_pw = format!("mqtt://scanner:{}@{host}", pw.replace(' ', "%20"));
        let good_or_bad = if pw == "correct horse" {
            good.to_str().unwrap()
        } else {
            bad.to_str().unwrap()
        };
        let commands: Vec<(Vec<&str>, Option<std::time::Duration>)> = vec![
            (vec!["list"], None),
            (vec!["list", "--json"], None),
            (vec!["list", "--format", "csv"], None),
            (vec!["check", "--expect", "s1"], None),
            (vec!["check", "--format", "json"], None),
            (vec!["prune"], None),
            (vec!["watch", "--log", log_arg], short),
            (vec!["watch", "--format", "jsonl"], short),
            (vec!["announce", "a1"], short),
        ];
        for (command, run_for) in &commands {
            // The password by flag, by variable, by file and in the URL.
            let ways: Vec<Way> = vec![
                (vec!["-b", host, "-u", "scanner", "--password", pw], vec![]),
                (
                    vec!["-b", host, "-u", "scanner"],
                    vec![("MQTT_SCAN_PASSWORD", pw)],
                ),
                (
                    vec!["-b", host, "-u", "scanner", "--password-file", good_or_bad],
                    vec![],
                ),
                (vec!["-b", &url_with_pw], vec![]),
                (vec![], vec![("MQTT_SCAN_BROKER", &url_with_pw)]),
            ];
            for (flags, env) in &ways {
                let mut args = command.clone();
                args.extend(flags.iter().copied());
                let (code, out, err) = run_capture(&args, env, *run_for);
                runs += 1;
                for s in secrets {
                    assert!(!out.contains(s), "{args:?} {env:?}: stdout has it: {out}");
                    assert!(!err.contains(s), "{args:?} {env:?}: stderr has it: {err}");
                }
                for line in err.lines() {
                    assert!(line.starts_with("mqtt-scan: "), "{args:?}: {err}");
                }
                let by_flag = flags.contains(&"--password");
                assert_eq!(
                    err.matches("--password is visible to other users in ps")
                        .count(),
                    usize::from(by_flag),
                    "{args:?}: the ps warning exactly when the flag is used: {err}"
                );
                if command[0] == "check" {
                    // The plugin line, then long output (one line per judged client, s1).
                    assert!(
                        out.starts_with("MQTT-SCAN ") || out.starts_with('{'),
                        "{args:?}: {out}"
                    );
                    assert!(out.lines().count() <= 2, "{args:?}: one plugin line: {out}");
                    assert!(code.is_some_and(|c| c <= 3), "{args:?}: {code:?}");
                }
            }
        }
    }
    assert!(runs >= 100);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("\"s1\""), "the log worked: {logged}");
    assert!(!logged.contains("correct"), "{logged}");
}

#[test]
fn help_man_and_completions_never_show_secrets_from_the_environment() {
    let env = [
        ("MQTT_SCAN_PASSWORD", "hunter2-env"),
        ("MQTT_SCAN_BROKER", "mqtt://u:pw-in-url@h"),
        ("MQTT_SCAN_USERNAME", "someone"),
    ];
    // Help is on --help only: -h is the broker host, as in mosquitto_sub.
    let mut invocations: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["man"],
        vec!["completions", "bash"],
        vec!["completions", "zsh"],
    ];
    for sub in [
        "list", "watch", "check", "announce", "prune", "demo", "presets",
    ] {
        invocations.push(vec![sub, "--help"]);
    }
    for args in invocations {
        let (code, out, err) = run_capture(&args, &env, None);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        for secret in ["hunter2-env", "pw-in-url"] {
            assert!(!out.contains(secret), "{args:?}: {out}");
            assert!(!err.contains(secret), "{args:?}: {err}");
        }
    }
}

#[test]
fn a_password_file_others_can_read_is_used_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let m = auth_broker();
    let dir = tempfile::tempdir().unwrap();
    let pw = private_file(dir.path(), "pw", "correct horse\n");
    let args = [
        "list",
        "-u",
        "scanner",
        "--password-file",
        pw.to_str().unwrap(),
    ];
    let out = scan(&m.url(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "0600: no warning");
    for mode in [0o640, 0o644, 0o604, 0o444] {
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = scan(&m.url(), &args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!(
                "mqtt-scan: warning: --password-file {} is accessible by other users (mode {mode:04o}): chmod 600 it\n",
                pw.display()
            )
        );
    }
    // check: the warning on stderr, its verdict alone on stdout (a client to judge: an
    // empty fleet would be UNKNOWN).
    retain_s1(&m, "1");
    let out = scan(
        &m.url(),
        &[
            "check",
            "-u",
            "scanner",
            "--password-file",
            pw.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // The plugin line and the long output (s1), no warning among them.
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    assert!(stdout(&out).starts_with("MQTT-SCAN OK"), "{}", stdout(&out));
    assert!(stderr(&out).contains("accessible by other users"));
}

#[test]
fn check_usage_errors_stay_unknown_and_one_line_whatever_the_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let loose = write(dir.path(), "pw", "x\n");
    for args in [
        vec!["check", "--password", "s3cr3t", "-u", "u", "--bogus"],
        vec![
            "check",
            "--password",
            "s3cr3t",
            "-u",
            "u",
            "--warn-offline",
            "many",
        ],
        vec!["check", "--password", "s3cr3t"],
        vec!["check", "-u", "u", "--password-file", "/nonexistent/pw"],
        vec![
            "check",
            "-u",
            "u",
            "--password-file",
            loose.to_str().unwrap(),
            "-t",
            "a/#/b",
        ],
        vec![
            "check",
            "--insecure",
            "-b",
            "mqtts://127.0.0.1:1",
            "-t",
            "a/#/b",
        ],
    ] {
        let (code, out, err) = run_capture(&args, &[], None);
        assert_eq!(code, Some(3), "{args:?}: {out} {err}");
        assert_eq!(out.lines().count(), 1, "{args:?}: {out}");
        assert!(out.starts_with("MQTT-SCAN UNKNOWN - "), "{args:?}: {out}");
        assert!(
            !out.contains("s3cr3t") && !err.contains("s3cr3t"),
            "{args:?}"
        );
        assert!(
            !err.contains("warning"),
            "{args:?}: no warning before a usage error: {err}"
        );
    }
}

#[test]
fn insecure_warns_for_every_command() {
    let (m, pki) = tls_broker(false);
    publish_tls(&m, &pki, "sensors/connected/t1", "1");
    let url = format!("mqtts://127.0.0.1:{}", m.port);
    let warning = "mqtt-scan: warning: --insecure: the broker's certificate is not verified";
    let short = Some(std::time::Duration::from_millis(1500));
    for (args, run_for) in [
        (vec!["list"], None),
        (vec!["check"], None),
        (vec!["prune"], None),
        (vec!["watch"], short),
        (vec!["announce", "t2"], short),
    ] {
        let mut all = args.clone();
        all.extend(["-b", &url, "--insecure"]);
        let (code, out, err) = run_capture(&all, &[], run_for);
        assert_eq!(code, Some(0), "{args:?}: {out} {err}");
        assert_eq!(err.matches(warning).count(), 1, "{args:?}: {err}");
        assert!(!out.contains("warning"), "{args:?}: {out}");
        if args[0] == "check" {
            assert!(out.starts_with("MQTT-SCAN OK"), "{out}");
            assert!(
                out.lines().skip(1).all(|l| l.ends_with(": online")),
                "{out}"
            );
        }
        if args[0] == "watch" {
            assert!(out.contains(" t1 "), "it worked: {out}");
        }
    }
    // Without --insecure and without the CA: verification is on by default.
    let out = scan(&url, &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("mqtt-scan: certificate verify failed"));
}
