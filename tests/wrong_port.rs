//! A port that is not what the URL says: one line saying what answered there and what to
//! do, never a library's message or a Debug dump of a packet.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;

use common::*;

/// A server that answers every connection's first bytes with `banner` and hangs up, as an
/// HTTP server (nginx answers a binary CONNECT with a 400) or an SSH server does.
fn banner_server(banner: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = c.write_all(banner);
        }
    });
    port
}

const HTTP_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n";

/// Exit 1, one `mqtt-scan: ` line holding `want`, nothing of rumqttc's own words.
fn fails_with(url: &str, args: &[&str], want: &str) {
    let out = scan(url, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("mqtt-scan: "), "{err}");
    assert!(err.contains(want), "want {want:?} in: {err}");
    for raw in [
        "PubAck",
        "Expected ConnAck",
        "bytes remaining",
        "Websocket",
        "protocol error",
    ] {
        assert!(!err.contains(raw), "library words {raw:?} in: {err}");
    }
}

#[test]
fn an_http_server_is_named_as_one() {
    let port = banner_server(HTTP_400);
    for cmd in [&["list"][..], &["prune"], &["watch", "--format", "jsonl"]] {
        fails_with(
            &format!("127.0.0.1:{port}"),
            cmd,
            "is an HTTP server (HTTP/1.1 400 Bad Request), not an MQTT broker: check the port",
        );
    }
}

#[test]
fn something_else_is_quoted_escaped() {
    let port = banner_server(b"SSH-2.0-OpenSSH_9.2p1 \x1b[31mDebian\r\n");
    fails_with(
        &format!("127.0.0.1:{port}"),
        &["list"],
        "answered something that is not MQTT ('SSH-2.0-OpenSSH_9.2p1 \\x1b[31mDebian'): check the port",
    );
}

#[test]
fn websockets_at_a_plain_mqtt_port_say_use_mqtt() {
    let m = Mosquitto::start();
    fails_with(
        &format!("ws://127.0.0.1:{}", m.port),
        &["list"],
        &format!(
            "is a plain MQTT port, not MQTT over WebSockets: use mqtt://127.0.0.1:{}",
            m.port
        ),
    );
}

#[test]
fn tls_at_a_plain_mqtt_port_says_use_mqtt() {
    let m = Mosquitto::start();
    fails_with(
        &format!("mqtts://127.0.0.1:{}", m.port),
        &["list"],
        &format!(
            "is a plain MQTT port, not TLS: use mqtt://127.0.0.1:{}",
            m.port
        ),
    );
}

#[test]
fn websockets_at_an_http_port_name_the_path() {
    let port = banner_server(HTTP_400);
    fails_with(
        &format!("ws://127.0.0.1:{port}/mqtt"),
        &["list"],
        "is an HTTP server but did not accept an MQTT WebSocket at '/mqtt' (HTTP/1.1 400 Bad Request): check the port and the path",
    );
    fails_with(
        &format!("wss://127.0.0.1:{port}/mqtt"),
        &["list"],
        &format!("answers plain HTTP, not TLS: use ws://127.0.0.1:{port}/mqtt"),
    );
}

#[test]
fn mqtt_at_mosquittos_websocket_port_points_to_ws() {
    let ws_port = free_port();
    // mosquitto 2.0.11 will not start with a WebSocket listener alone: keep a plain one.
    let _m = Mosquitto::with(move |port, _| {
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nlistener {ws_port} 127.0.0.1\nprotocol websockets\n")
    });
    wait_for(
        "the WebSocket listener",
        std::time::Duration::from_secs(10),
        || std::net::TcpStream::connect(("127.0.0.1", ws_port)).ok(),
    );
    let out = scan(&format!("127.0.0.1:{ws_port}"), &["list"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ws://"), "{err}");
}
