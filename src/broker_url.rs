//! `--broker`: `mqtt://`, `mqtts://`, `ws://`, `wss://` or a bare `host[:port]`, with an
//! optional `user:password@` whose password is never shown.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Mqtt,
    Mqtts,
    Ws,
    Wss,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss)
    }

    pub fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub scheme: Scheme,
    /// Without brackets, also for IPv6 literals.
    pub host: String,
    pub port: u16,
    /// WebSocket path (`/mqtt` unless given); empty for plain MQTT.
    pub path: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

// Debug must not leak the password either: it is what `{:?}` would print in a panic.
impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerUrl({self})")
    }
}

impl BrokerUrl {
    /// `host:port`, with brackets around an IPv6 literal: for error messages.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL a WebSocket client requests (no credentials: they go in CONNECT).
    pub fn websocket_url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme.as_str(),
            self.host_port(),
            self.path
        )
    }
}

/// Shows the URL with its password masked as `***`.
impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        if let Some(user) = &self.username {
            write_userinfo(f, user)?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}{}", self.host_port(), self.path)
    }
}

/// A user name as the URL must spell it to read back the same (`:`, `@`, `/`, `%` and
/// spaces %-escaped), and as a terminal may show it (control characters %-escaped too).
fn write_userinfo(f: &mut fmt::Formatter<'_>, user: &str) -> fmt::Result {
    let mut buf = [0; 4];
    for c in user.chars() {
        let c = c.encode_utf8(&mut buf);
        let plain = match c.as_bytes() {
            [b] => b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(b),
            _ => crate::status::escape(c) == *c,
        };
        if plain {
            f.write_str(c)?;
        } else {
            for b in c.bytes() {
                write!(f, "%{b:02X}")?;
            }
        }
    }
    Ok(())
}

impl FromStr for BrokerUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((s, rest)) => {
                let scheme = match s.to_ascii_lowercase().as_str() {
                    "mqtt" | "tcp" => Scheme::Mqtt,
                    "mqtts" | "ssl" | "tls" => Scheme::Mqtts,
                    "ws" => Scheme::Ws,
                    "wss" => Scheme::Wss,
                    _ => {
                        return Err(format!(
                            "unknown scheme{}: use mqtt://, mqtts://, ws:// or wss://",
                            quoted(text, s, "'", "'")
                        ))
                    }
                };
                (scheme, rest)
            }
            None => (Scheme::Mqtt, text),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)?), Some(percent_decode(p)?)),
                None => (Some(percent_decode(info)?), None),
            },
        };
        let (host, port) = split_host_port(text, hostport)?;
        if host.is_empty() {
            return Err("the broker URL has no host: use e.g. mqtt://localhost:1883".into());
        }
        let path = no_control(text, "path", path)?;
        let port = port.unwrap_or(scheme.default_port());
        let path = if scheme.is_websocket() {
            if path.is_empty() || path == "/" {
                "/mqtt".to_owned()
            } else {
                path.to_owned()
            }
        } else {
            if !path.is_empty() && path != "/" {
                return Err(format!(
                    "a path{} only makes sense for ws:// and wss:// URLs",
                    quoted(text, path, "('", "')")
                ));
            }
            String::new()
        };
        Ok(Self {
            scheme,
            host,
            port,
            path,
            username,
            password,
        })
    }
}

/// ` 'fragment'` (escaped) for an error message, or nothing when the fragment of `text` may
/// hold a password: a password with an unescaped `/` (`mqtt://u:pa/ss@h`) ends the host early,
/// and its pieces turn up as a port or a path. Such a fragment has an `@` in or after it.
fn quoted(text: &str, fragment: &str, open: &str, close: &str) -> String {
    // Where the fragment starts in `text` (it is a piece of it).
    let start = (fragment.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    match text
        .get(start..)
        .filter(|rest| rest.len() >= fragment.len())
    {
        Some(rest) if !rest.contains('@') => {
            format!(" {open}{}{close}", crate::status::escape(fragment))
        }
        _ => String::new(),
    }
}

/// A host or path with a control character is no address, and would reach the terminal (and
/// a WebSocket request line) raw wherever the URL is shown.
fn no_control<'a>(text: &str, what: &str, part: &'a str) -> Result<&'a str, String> {
    if crate::status::escape(part) != part {
        return Err(format!(
            "the broker URL's {what}{} has a control character",
            quoted(text, part, "'", "'")
        ));
    }
    Ok(part)
}

/// A host: no control character, and brackets only around an IPv6 address (`mq[::1]:1884`
/// would show as `[mq[::1]:1884]`, which reads back as something else).
fn checked_host<'a>(text: &str, host: &'a str) -> Result<&'a str, String> {
    if host.contains(['[', ']']) {
        return Err(format!(
            "the broker URL's host{} has a stray '[' or ']': write an IPv6 address as [::1]:1883",
            quoted(text, host, "'", "'")
        ));
    }
    no_control(text, "host", host)
}

/// `hostport` is a piece of `text`, the whole URL (for [`quoted`]).
fn split_host_port(text: &str, hostport: &str) -> Result<(String, Option<u16>), String> {
    let bad_port = |p: &str| {
        format!(
            "invalid port{} in the broker URL",
            quoted(text, p, "'", "'")
        )
    };
    // Port 0 is no port to connect to, bracketed or not.
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| bad_port(p))
    };
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed '[' in the broker URL's IPv6 address".to_owned())?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(port(p)?),
            None if after.is_empty() => None,
            None => return Err(bad_port(after)),
        };
        return Ok((checked_host(text, host)?.to_owned(), port));
    }
    match hostport.rsplit_once(':') {
        Some((host, p)) if !host.contains(':') => {
            Ok((checked_host(text, host)?.to_owned(), Some(port(p)?)))
        }
        // No port, or more than one ':' without brackets: a bare IPv6 address.
        _ => Ok((checked_host(text, hostport)?.to_owned(), None)),
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    "invalid %-escape in the broker URL's user information".to_owned()
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the broker URL's user information is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> BrokerUrl {
        s.parse().unwrap()
    }

    fn err_of(s: &str) -> String {
        s.parse::<BrokerUrl>().unwrap_err()
    }

    #[test]
    fn schemes_and_default_ports() {
        assert_eq!(
            (url("mqtt://h").scheme, url("mqtt://h").port),
            (Scheme::Mqtt, 1883)
        );
        assert_eq!(
            (url("mqtts://h").scheme, url("mqtts://h").port),
            (Scheme::Mqtts, 8883)
        );
        assert_eq!(
            (url("ws://h").port, url("ws://h").path.as_str()),
            (80, "/mqtt")
        );
        assert_eq!(
            (
                url("wss://h:9001/ws").port,
                url("wss://h:9001/ws").path.as_str()
            ),
            (9001, "/ws")
        );
        assert_eq!(url("MQTT://h:1").scheme, Scheme::Mqtt);
    }

    #[test]
    fn bare_host_and_port_mean_mqtt() {
        let u = url("broker.local:1999");
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Mqtt, "broker.local", 1999)
        );
        assert_eq!(url("localhost").to_string(), "mqtt://localhost:1883");
    }

    #[test]
    fn ipv6_literals() {
        let u = url("mqtt://[::1]:1884");
        assert_eq!((u.host.as_str(), u.port), ("::1", 1884));
        assert_eq!(u.to_string(), "mqtt://[::1]:1884");
        assert_eq!(url("[fe80::1]").port, 1883);
    }

    #[test]
    fn password_is_masked_in_display_and_debug() {
        let u = url("mqtts://alice:s3cr%40t@h");
        assert_eq!(u.username.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("s3cr@t"));
        assert_eq!(u.to_string(), "mqtts://alice:***@h:8883");
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(url("mqtt://bob@h").to_string(), "mqtt://bob@h:1883");
    }

    #[test]
    fn bad_urls_say_why() {
        let err = |s: &str| s.parse::<BrokerUrl>().unwrap_err();
        assert!(err("foo://h").contains("unknown scheme 'foo'"));
        assert!(err("mqtt://h:99999").contains("invalid port"));
        assert!(err("mqtt://h:0").contains("invalid port"));
        // Found by the `broker_url` fuzz target: a bracketed address took port 0.
        assert!(err("mqtt://[::1]:0").contains("invalid port"));
        assert!(err("mqtt://").contains("no host"));
        assert!(err("mqtt://h/path").contains("only makes sense for ws"));
        assert!(err("mqtt://[::1").contains("unclosed"));
        assert!(err("mqtt://u:%zz@h").contains("%-escape"));
    }

    #[test]
    fn a_user_name_reads_back_from_its_display() {
        // Found by the `broker_url` fuzz target: `a%3Ab` showed as `a:b@`, a user `a` with
        // the password `b`.
        let u = url("mqtt://a%3Ab@h");
        assert_eq!(u.to_string(), "mqtt://a%3Ab@h:1883");
        assert_eq!(url(&u.to_string()), u);
        let u = url("mqtt://%1b[2J%25 x:pw@h");
        assert_eq!(u.username.as_deref(), Some("\x1b[2J% x"));
        assert_eq!(u.to_string(), "mqtt://%1B%5B2J%25%20x:***@h:1883");
    }

    #[test]
    fn control_characters_in_the_host_or_path_are_refused() {
        // Found by the `broker_url` fuzz target: they reached Display (the terminal) raw.
        assert!(err_of("mqtt://lo\u{7f}\0ost").contains("host 'lo\\x7f\\x00ost' has a control"));
        assert!(err_of("ws://h/a\r\nX: y").contains("path"));
        assert!(err_of("ws://h/\u{202e}").contains("control"));
        // A bracket outside the IPv6 syntax: shown as `[mq[::1]:1884]`, which reads back
        // differently.
        assert!(err_of("mq[::1]:1884").contains("stray"));
        assert!(err_of("mqtt://[[::1]").contains("stray"));
    }

    #[test]
    fn no_error_quotes_a_password() {
        // Found by the `broker_url` fuzz target: an unescaped `/` in a password ends the host
        // early, and the rest of the password was quoted as a bad port or a path.
        for text in [
            "mqtt://u:Zq9Xw7Kp/x@h",
            "mqtt://u:Zq9Xw7Kp:1/x@h",
            "mqtt://u:p/Zq9Xw7Kp@h",
            "Zq9Xw7Kp://u:p@h",
            "mqtt://u:Zq9Xw7Kp@h:0",
        ] {
            let e = text.parse::<BrokerUrl>().unwrap_err();
            assert!(!e.contains("Zq9Xw7Kp"), "{text}: {e}");
        }
        assert!(
            err_of("mqtt://u:p@h:0x").contains("'0x'"),
            "after the @ it is quoted"
        );
    }

    #[test]
    fn websocket_url_has_no_credentials() {
        assert_eq!(url("ws://u:p@h:8080").websocket_url(), "ws://h:8080/mqtt");
    }
}
