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
            f.write_str(user)?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}{}", self.host_port(), self.path)
    }
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
                            "unknown scheme '{}': use mqtt://, mqtts://, ws:// or wss://",
                            crate::status::escape(s)
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
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err("the broker URL has no host: use e.g. mqtt://localhost:1883".into());
        }
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
                    "a path ('{}') only makes sense for ws:// and wss:// URLs",
                    crate::status::escape(path)
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

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), String> {
    let bad_port = |p: &str| {
        format!(
            "invalid port '{}' in the broker URL",
            crate::status::escape(p)
        )
    };
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed '[' in the broker URL's IPv6 address".to_owned())?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad_port(p))?),
            None if after.is_empty() => None,
            None => return Err(bad_port(after)),
        };
        return Ok((host.to_owned(), port));
    }
    match hostport.rsplit_once(':') {
        Some((host, p)) if !host.contains(':') => {
            let port = p.parse::<u16>().map_err(|_| bad_port(p))?;
            if port == 0 {
                return Err(bad_port(p));
            }
            Ok((host.to_owned(), Some(port)))
        }
        // No port, or more than one ':' without brackets: a bare IPv6 address.
        _ => Ok((hostport.to_owned(), None)),
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
        assert!(err("mqtt://").contains("no host"));
        assert!(err("mqtt://h/path").contains("only makes sense for ws"));
        assert!(err("mqtt://[::1").contains("unclosed"));
        assert!(err("mqtt://u:%zz@h").contains("%-escape"));
    }

    #[test]
    fn websocket_url_has_no_credentials() {
        assert_eq!(url("ws://u:p@h:8080").websocket_url(), "ws://h:8080/mqtt");
    }
}
