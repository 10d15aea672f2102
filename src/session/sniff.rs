//! What answers on a port that did not speak MQTT as we asked: after a first connection
//! fails in a way rumqttc cannot explain (a stray packet, `bytes remaining on stream`, a
//! WebSocket library message, a TLS record where none belongs), one more plain TCP
//! connection sends an MQTT 3.1.1 CONNECT and reads what comes back, so the error can say
//! what was found there and what to do.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::errors::{Context, Described};
use crate::cli::MqttVersion;
use crate::status::escape;

/// CONNECT, MQTT 3.1.1, clean session, keepalive 60 s, empty client id: every MQTT broker
/// answers it with a CONNACK (accepted or not).
const CONNECT: [u8; 14] = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    /// A CONNACK: an MQTT broker, over plain TCP.
    Mqtt,
    /// An HTTP server; its status line.
    Http(String),
    /// A TLS record (an alert, usually): a TLS port.
    Tls,
    /// Something else; the start of what it sent, escaped.
    Other(String),
}

/// Reads the first bytes an answer starts with.
pub(super) fn classify(bytes: &[u8]) -> Option<Found> {
    let first = *bytes.first()?;
    Some(if first == 0x20 {
        Found::Mqtt
    } else if bytes.starts_with(b"HTTP/") {
        Found::Http(first_line(bytes))
    } else if (0x14..=0x17).contains(&first) && bytes.get(1) == Some(&0x03) {
        Found::Tls
    } else {
        Found::Other(first_line(&bytes[..bytes.len().min(48)]))
    })
}

/// The bytes up to the first line break, as escaped text.
fn first_line(bytes: &[u8]) -> String {
    let line = bytes
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or(bytes);
    escape(&String::from_utf8_lossy(line)).into_owned()
}

/// Connects, sends the CONNECT, and reads for at most `wait`. None: nothing came back.
async fn sniff(host_port: &str, wait: Duration) -> Option<Found> {
    let talk = async {
        let mut s = TcpStream::connect(host_port).await?;
        s.write_all(&CONNECT).await?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await?;
        Ok::<_, io::Error>(classify(&buf[..n]))
    };
    timeout(wait, talk).await.ok()?.ok()?
}

/// The error's line, or, when it is a guess (see [`Described`]), what a look at the port
/// found instead (the line stays when the look finds nothing that explains more).
pub(super) async fn explain(described: Described, ctx: &Context) -> String {
    if !described.unclear {
        return described.text;
    }
    let wait = (ctx.connect_timeout / 2).min(Duration::from_secs(1));
    sniff(&ctx.host_port, wait)
        .await
        .and_then(|found| advice(ctx, &found))
        .unwrap_or(described.text)
}

/// Waits, at most the connect timeout, for `first` (a new connection's first event),
/// telling a broker that leaves an MQTT 5 CONNECT unanswered apart from one that is not
/// there (see [`mqtt5_unanswered`]).
pub(super) async fn first_answer<T>(
    ctx: &Context,
    first: impl std::future::Future<Output = T>,
) -> Result<T, String> {
    let race = async {
        tokio::select! {
            biased;
            answer = first => Ok(answer),
            why = mqtt5_unanswered(ctx) => Err(why),
        }
    };
    match timeout(ctx.connect_timeout, race).await {
        Ok(answer) => answer,
        Err(_) if accepts(ctx).await => Err(format!(
            "{} accepted the connection but sent no CONNACK within {}: a busy broker (raise --connect-timeout), or a port that wants TLS (mqtts://)",
            ctx.host_port,
            humantime::format_duration(ctx.connect_timeout)
        )),
        Err(_) => Err(super::errors::timeout_message(ctx)),
    }
}

/// Whether a plain TCP connection to the port opens within half a second (for plain MQTT:
/// over TLS or WebSockets the handshake may be what hangs).
async fn accepts(ctx: &Context) -> bool {
    !ctx.tls
        && !ctx.websocket
        && timeout(
            Duration::from_millis(500),
            TcpStream::connect(&ctx.host_port),
        )
        .await
        .is_ok_and(|c| c.is_ok())
}

/// Waits for a broker that has not answered an MQTT 5 CONNECT: after a second (half the
/// connect timeout when that is shorter), one plain MQTT 3.1.1 CONNECT on a connection of
/// its own; when that gets its CONNACK, the broker speaks MQTT but not MQTT 5 (aedes,
/// amqtt and RabbitMQ 3.10 leave an MQTT 5 CONNECT unanswered, or hang up, or send a
/// 3.1.1 CONNACK 0x01). Never resolves otherwise: the caller's own timeout decides.
pub(super) async fn mqtt5_unanswered(ctx: &Context) -> String {
    let pending = std::future::pending::<String>();
    if ctx.version != MqttVersion::V5 || ctx.tls || ctx.websocket {
        return pending.await;
    }
    let wait = (ctx.connect_timeout / 2).min(Duration::from_secs(1));
    tokio::time::sleep(wait).await;
    match sniff(&ctx.host_port, wait).await {
        Some(Found::Mqtt) => no_mqtt5(ctx),
        _ => pending.await,
    }
}

/// The broker answered MQTT 3.1.1 where we spoke MQTT 5.
pub(super) fn no_mqtt5(ctx: &Context) -> String {
    format!(
        "{} does not speak MQTT 5 (it answers MQTT 3.1.1): use --mqtt-version 3.1.1",
        ctx.host_port
    )
}

/// One line for what was found, given how we tried to speak to it.
fn advice(ctx: &Context, found: &Found) -> Option<String> {
    let hp = &ctx.host_port;
    Some(match found {
        Found::Mqtt if ctx.websocket => format!(
            "{hp} is a plain MQTT port, not MQTT over WebSockets: use mqtt://{hp}"
        ),
        Found::Mqtt if ctx.tls => {
            format!("{hp} is a plain MQTT port, not TLS: use mqtt://{hp}")
        }
        Found::Mqtt if ctx.version == MqttVersion::V5 => no_mqtt5(ctx),
        Found::Mqtt => return None,
        Found::Http(_) if ctx.tls && ctx.websocket => format!(
            "{hp} answers plain HTTP, not TLS: use ws://{hp}{}",
            escape(&ctx.path)
        ),
        Found::Http(status) if ctx.websocket => format!(
            "{hp} is an HTTP server but did not accept an MQTT WebSocket at '{}' ({status}): check the port and the path (ws://host:port/PATH)",
            escape(&ctx.path)
        ),
        Found::Http(status) => format!(
            "{hp} is an HTTP server ({status}), not an MQTT broker: check the port (MQTT is usually 1883, TLS 8883; for MQTT over WebSockets use ws://host:port/path)"
        ),
        Found::Tls if ctx.tls => return None,
        Found::Tls => format!(
            "{hp} speaks TLS: use mqtts://{hp}{}",
            if ctx.websocket { " (or wss:// for WebSockets)" } else { "" }
        ),
        Found::Other(start) => format!(
            "{hp} answered something that is not MQTT ('{start}'): check the port"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_told_apart() {
        assert_eq!(classify(&[0x20, 2, 0, 0]), Some(Found::Mqtt));
        assert_eq!(
            classify(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n"),
            Some(Found::Http("HTTP/1.1 400 Bad Request".into()))
        );
        assert_eq!(classify(&[0x15, 0x03, 0x03, 0, 2, 2, 50]), Some(Found::Tls));
        assert_eq!(
            classify(b"SSH-2.0-OpenSSH_9.2p1\r\n"),
            Some(Found::Other("SSH-2.0-OpenSSH_9.2p1".into()))
        );
        assert_eq!(
            classify(b"\x1b[31mred"),
            Some(Found::Other("\\x1b[31mred".into()))
        );
        assert_eq!(classify(b""), None);
    }
}
