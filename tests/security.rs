//! TLS (CA and server certificate generated here), client certificates, and
//! username/password from a mosquitto password file, against a real mosquitto.

mod common;

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
            "mqtt-scan: not authorized by 127.0.0.1:{}: check --username/--password\n",
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
