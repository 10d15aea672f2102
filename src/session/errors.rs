//! Connection failures as one line that says what failed and what to do: rumqttc's errors
//! for both protocol versions, the TLS and socket errors inside them, and refused CONNACKs.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use rumqttc::v5;

use crate::cli::MqttVersion;
use crate::config::Connection;
use crate::status::escape;

/// What error messages need to know about the connection.
#[derive(Clone)]
pub(super) struct Context {
    pub(super) host: String,
    pub(super) host_port: String,
    pub(super) client_id: String,
    pub(super) connect_timeout: Duration,
    pub(super) tls: bool,
    pub(super) websocket: bool,
    /// The WebSocket path (empty for plain MQTT).
    pub(super) path: String,
    pub(super) version: MqttVersion,
}

impl Context {
    pub(super) fn new(conn: &Connection) -> Self {
        Self {
            host: conn.broker.host.clone(),
            host_port: conn.broker.host_port(),
            client_id: conn.client_id.clone(),
            connect_timeout: conn.connect_timeout,
            tls: conn.broker.scheme.is_tls(),
            websocket: conn.broker.scheme.is_websocket(),
            path: conn.broker.path.clone(),
            version: conn.version,
        }
    }
}

pub(super) fn refused_message(filters: &[String]) -> String {
    format!(
        "the broker refused the subscription to {}: check this user's ACL",
        filters
            .iter()
            .map(|f| format!("'{}'", escape(f)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `NotAuthorized` -> `not authorized`.
pub(super) fn words(variant: &str) -> String {
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        // io::Error::source skips the error it wraps; look inside it too.
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            if let Some(t) = find::<T>(inner) {
                return Some(t);
            }
        }
        cur = e.source();
    }
    None
}

fn refused(code: &str, ctx: &Context) -> String {
    match code {
        "NotAuthorized" | "BadUserNamePassword" => {
            format!(
                "not authorized by {}: check --username/--password",
                ctx.host_port
            )
        }
        "BadClientId" | "ClientIdentifierNotValid" => format!(
            "{} rejected the client id '{}': choose another with --client-id",
            ctx.host_port,
            escape(&ctx.client_id)
        ),
        "RefusedProtocolVersion" | "UnsupportedProtocolVersion"
            if ctx.version == MqttVersion::V5 =>
        {
            super::sniff::no_mqtt5(ctx)
        }
        "RefusedProtocolVersion" | "UnsupportedProtocolVersion" => format!(
            "{} does not accept MQTT 3.1.1: try --mqtt-version 5",
            ctx.host_port
        ),
        other => format!("connection refused by {}: {}", ctx.host_port, words(other)),
    }
}

/// A failure as one line that says what failed and what to do, and whether the line is a
/// guess: before a first CONNACK, an error that does not say what is on the other side (a
/// stray packet, a hang-up, a WebSocket or TLS protocol error) may be explained better by a
/// look at the port (see `sniff`).
pub(super) struct Described {
    pub(super) text: String,
    pub(super) unclear: bool,
}

impl Described {
    fn clear(text: String) -> Self {
        Self {
            text,
            unclear: false,
        }
    }
}

fn describe(err: &(dyn StdError + 'static), ctx: &Context, connected: bool) -> Described {
    if let Some(tls) = find::<rustls::Error>(err) {
        return Described {
            text: describe_tls(tls, ctx),
            unclear: !connected
                && !matches!(
                    tls,
                    rustls::Error::InvalidCertificate(_) | rustls::Error::AlertReceived(_)
                ),
        };
    }
    if let Some(io) = find::<io::Error>(err) {
        return describe_io(io, ctx, connected);
    }
    let text = err.to_string();
    if connected {
        Described::clear(format!("connection to {} lost: {text}", ctx.host_port))
    } else {
        Described {
            text: format!("cannot connect to {}: {text}", ctx.host_port),
            unclear: true,
        }
    }
}

fn describe_io(e: &io::Error, ctx: &Context, connected: bool) -> Described {
    use io::ErrorKind as K;
    let hp = &ctx.host_port;
    let guess = |text: String| Described {
        text,
        unclear: true,
    };
    match e.kind() {
        K::ConnectionRefused => Described::clear(format!(
            "connection refused by {hp}: is the broker running?"
        )),
        K::TimedOut => Described::clear(format!(
            "no answer from {hp}: check the address, port and firewall"
        )),
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
            if connected =>
        {
            Described::clear(format!("connection to {hp} lost: the broker closed it"))
        }
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
            guess(if ctx.tls {
                format!("{hp} closed the connection during the handshake: is it a TLS port, and does it want a client certificate (--cert/--key)?")
            } else {
                format!("{hp} closed the connection before answering: if it is a TLS port, use mqtts://")
            })
        }
        K::HostUnreachable | K::NetworkUnreachable => {
            Described::clear(format!("{hp} is unreachable: check the broker address"))
        }
        _ if e.to_string().contains("lookup") || e.to_string().contains("resolve") => {
            Described::clear(format!(
                "cannot resolve host '{}': check the broker address",
                escape(&ctx.host)
            ))
        }
        _ if connected => Described::clear(format!("connection to {hp} lost: {e}")),
        K::InvalidData | K::Other => guess(format!("cannot connect to {hp}: {e}")),
        _ => Described::clear(format!("cannot connect to {hp}: {e}")),
    }
}

fn describe_tls(e: &rustls::Error, ctx: &Context) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let hp = &ctx.host_port;
    match e {
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            "certificate verify failed for {hp} (unknown issuer): pass --cafile with the CA that signed the broker's certificate"
        ),
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
            "certificate verify failed: the broker's certificate is not valid for '{}': connect by the name in the certificate",
            escape(&ctx.host)
        ),
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            format!("certificate verify failed: the certificate of {hp} has expired")
        }
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            format!("certificate verify failed: the certificate of {hp} is not valid yet (check the clock)")
        }
        E::InvalidCertificate(_) => format!("certificate verify failed for {hp}: {e}"),
        E::AlertReceived(A::CertificateRequired | A::HandshakeFailure | A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => format!(
            "{hp} rejected the TLS handshake: does it require a client certificate (--cert/--key) signed by a CA it trusts?"
        ),
        other => format!("TLS handshake with {hp} failed: {other}"),
    }
}

pub(super) fn timeout_message(ctx: &Context) -> String {
    format!(
        "no answer from {} within {}: check the address and port, and whether the broker wants TLS (mqtts://)",
        ctx.host_port,
        humantime::format_duration(ctx.connect_timeout)
    )
}

/// The connection ended `why`; before a CONNACK that is a broker that hung up on our
/// CONNECT (or never answered it), worth a look at the port.
fn lost(ctx: &Context, why: &str, connected: bool) -> Described {
    Described {
        text: format!("connection to {} lost: {why}", ctx.host_port),
        unclear: !connected,
    }
}

pub(super) fn describe_v4(
    e: &rumqttc::ConnectionError,
    ctx: &Context,
    connected: bool,
) -> Described {
    use rumqttc::{ConnectionError as E, StateError as S};
    match e {
        E::ConnectionRefused(code) => Described::clear(refused(&format!("{code:?}"), ctx)),
        E::NetworkTimeout | E::FlushTimeout => Described::clear(timeout_message(ctx)),
        E::MqttState(S::AwaitPingResp) => lost(ctx, "no answer to keepalive pings", connected),
        E::MqttState(S::ConnectionAborted) => lost(ctx, "the broker closed it", connected),
        _ => describe(e, ctx, connected),
    }
}

pub(super) fn describe_v5(e: &v5::ConnectionError, ctx: &Context, connected: bool) -> Described {
    use v5::{ConnectionError as E, StateError as S};
    match e {
        E::ConnectionRefused(code) | E::MqttState(S::ConnFail { reason: code }) => {
            Described::clear(refused(&format!("{code:?}"), ctx))
        }
        E::Timeout(_) => Described::clear(timeout_message(ctx)),
        E::MqttState(S::AwaitPingResp) => lost(ctx, "no answer to keepalive pings", connected),
        E::MqttState(S::ConnectionAborted) => lost(ctx, "the broker closed it", connected),
        E::MqttState(S::ServerDisconnect {
            reason_code,
            reason_string,
        }) => Described::clear(format!(
            "the broker disconnected us: {}{}",
            words(&format!("{reason_code:?}")),
            reason_string
                .as_deref()
                .map(|s| format!(" ({})", escape(s)))
                .unwrap_or_default()
        )),
        _ => describe(e, ctx, connected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_become_words() {
        assert_eq!(words("NotAuthorized"), "not authorized");
        assert_eq!(words("QuotaExceeded"), "quota exceeded");
    }
}
