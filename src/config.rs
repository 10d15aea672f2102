//! Command-line arguments -> validated settings. Every flag is read here, nowhere deeper.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use crate::broker_url::BrokerUrl;
use crate::cli::{ColorChoice, ConnectionArgs, MqttVersion, TopicArgs};
use crate::error::usage;
use crate::status::presets::Rule;
use crate::status::{presets, Pattern, Source, Vocabulary};
use crate::tls::{self, TlsFiles};

pub const DEFAULT_TOPIC: &str = "sensors/connected/#";

/// A password that prints as `***` however it is formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Clone)]
pub struct Connection {
    pub broker: BrokerUrl,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub client_id: String,
    pub version: MqttVersion,
    pub keepalive: Duration,
    pub connect_timeout: Duration,
    /// Warnings for stderr (`--insecure`, a password file others can read), printed once
    /// the whole command line is known to be good.
    pub warnings: Vec<String>,
}

impl Connection {
    pub fn from_args(args: &ConnectionArgs) -> anyhow::Result<Self> {
        let mut broker: BrokerUrl = args
            .broker
            .parse()
            .map_err(|why: String| usage(format!("invalid --broker URL: {why}")))?;
        // mosquitto_sub's -h and -p: they replace the host and port of --broker (whose
        // scheme, path and credentials stay).
        if let Some(host) = &args.host {
            broker.host = parse_host(host)?;
        }
        if let Some(port) = args.port {
            if port == 0 {
                return Err(usage("invalid --port 0: use 1 to 65535"));
            }
            broker.port = port;
        }
        let tls_flags =
            args.cafile.is_some() || args.cert.is_some() || args.key.is_some() || args.insecure;
        if tls_flags && !broker.scheme.is_tls() {
            return Err(usage(format!(
                "--cafile, --cert, --key and --insecure are for TLS: use mqtts://{} (or wss://)",
                broker.host_port()
            )));
        }
        let tls = if broker.scheme.is_tls() {
            Some(tls::client_config(&TlsFiles {
                cafile: args.cafile.as_deref(),
                cert: args.cert.as_deref(),
                key: args.key.as_deref(),
                insecure: args.insecure,
            })?)
        } else {
            None
        };
        // Flags win over credentials in the URL.
        let username = args.username.clone().or_else(|| broker.username.clone());
        let mut warnings = Vec::new();
        let password = match (&args.password_file, &args.password) {
            (Some(path), _) => {
                let password = read_password_file(path)?;
                warnings.extend(others_can_read(path));
                Some(password)
            }
            (None, Some(p)) => Some(p.clone()),
            (None, None) => broker.password.clone(),
        };
        if password.is_some() && username.is_none() {
            return Err(usage("a password needs a user name: pass --username"));
        }
        // rumqttc's MQTT 5 client cannot run without keepalive pings or with them under 5 s.
        if args.mqtt_version == MqttVersion::V5 && args.keepalive < 5 {
            return Err(usage(
                "with --mqtt-version 5, --keepalive must be at least 5 seconds",
            ));
        }
        let client_id = args.client_id.clone().unwrap_or_else(random_client_id);
        if client_id.is_empty() || client_id.len() > 65_535 {
            return Err(usage("--client-id must be 1 to 65535 bytes long"));
        }
        if args.insecure {
            warnings.push("--insecure: the broker's certificate is not verified".to_owned());
        }
        Ok(Self {
            broker,
            username,
            password: password.map(Secret),
            tls,
            client_id,
            version: args.mqtt_version,
            keepalive: Duration::from_secs(u64::from(args.keepalive)),
            connect_timeout: args.connect_timeout.max(Duration::from_millis(1)),
            warnings,
        })
    }
}

/// A `-h/--host` value: a name or an address (IPv6 with or without brackets), nothing else.
fn parse_host(text: &str) -> anyhow::Result<String> {
    let t = text.trim();
    let bracketed = if t.contains(':') && !t.starts_with('[') {
        format!("[{t}]")
    } else {
        t.to_owned()
    };
    let bad = || {
        usage(format!(
            "invalid --host '{}': give a host name or address only (the port goes in -p/--port)",
            crate::status::escape(t)
        ))
    };
    if t.is_empty() || t.contains(['/', '@', '?', '#']) || t.contains(char::is_whitespace) {
        return Err(bad());
    }
    let unbracketed = t.trim_start_matches('[').trim_end_matches(']');
    if t.contains(':') && unbracketed.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(bad());
    }
    // No port or user can be left: '@' is refused above, and a ':' is inside brackets.
    let url: BrokerUrl = format!("mqtt://{bracketed}").parse().map_err(|_| bad())?;
    Ok(url.host)
}

fn read_password_file(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "cannot read --password-file {}: {}",
            path.display(),
            tls::io_reason(&e)
        ))
    })?;
    let first = text.split('\n').next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(usage(format!(
            "--password-file {}: the first line is empty",
            path.display()
        )));
    }
    Ok(first.to_owned())
}

/// A password file that the group or others may read or write gets a warning (as
/// mosquitto does for its password file), not a refusal: container secrets are often
/// mounted 0644 or 0444, and the user may not be able to change that.
fn others_can_read(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "--password-file {} is accessible by other users (mode {mode:04o}): chmod 600 it",
            crate::status::escape(&path.display().to_string())
        )
    })
}

/// `mqtt-scan-` and 16 random hex digits: the shape the fold knows as a scanner's own
/// connection (`status::registry::is_generated_client_id`). Every connection of ours
/// without `--client-id` (side connections included) takes one.
pub fn random_client_id() -> String {
    format!(
        "{}{:016x}",
        crate::status::registry::GENERATED_PREFIX,
        rand::random::<u64>()
    )
}

/// What to subscribe to and how to read it.
#[derive(Debug, Clone)]
pub struct Scan {
    pub sources: Vec<Source>,
    pub vocab: Vocabulary,
}

impl Scan {
    pub fn from_args(args: &TopicArgs) -> anyhow::Result<Self> {
        // MQTT_SCAN_TOPIC may hold several patterns separated by commas; `-t` takes one
        // pattern each (a topic may contain a comma) and wins over the variable.
        let from_env = std::env::var("MQTT_SCAN_TOPIC").unwrap_or_default();
        let texts: Vec<&str> = if !args.topics.is_empty() {
            args.topics.iter().map(|t| t.trim()).collect()
        } else if !args.presets.is_empty() {
            // A preset replaces the default topic, as `-t` does.
            Vec::new()
        } else if !from_env.trim().is_empty() {
            from_env
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect()
        } else {
            vec![DEFAULT_TOPIC]
        };
        let mut sources: Vec<Source> = Vec::new();
        for text in texts {
            let pattern = Pattern::parse(text).map_err(|e| usage(e.to_string()))?;
            if !sources
                .iter()
                .any(|s| s.pattern.filter() == pattern.filter())
            {
                sources.push(Source::topic(pattern));
            }
        }
        // `-t` first: the patterns a user names win over a preset's on a shared topic.
        for name in &args.presets {
            let preset = presets::find(name).ok_or_else(|| {
                usage(format!(
                    "unknown preset '{}': use one of {} (mqtt-scan presets lists them)",
                    crate::status::escape(name),
                    presets::PRESETS
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let label: std::sync::Arc<str> = preset.name.into();
            for topic in preset.topics {
                let source =
                    Source::preset(topic, label.clone()).map_err(|e| usage(e.to_string()))?;
                if !sources
                    .iter()
                    .any(|s| s.pattern.filter() == source.pattern.filter())
                {
                    sources.push(source);
                }
            }
        }
        Ok(Self {
            sources,
            vocab: Vocabulary::new(&args.online_values, &args.offline_values),
        })
    }

    /// Whether any pattern comes from a preset (then the table shows each row's source).
    pub fn uses_presets(&self) -> bool {
        self.sources.iter().any(|s| &*s.label != "topic")
    }

    /// The presets (by name, once each) that read a broker's client events: not retained,
    /// so a snapshot cannot hold the clients connected before it.
    pub fn event_presets(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for s in &self.sources {
            if matches!(s.rule, Rule::Event { .. }) && !names.contains(&&*s.label) {
                names.push(&s.label);
            }
        }
        names
    }

    /// Whether every pattern reads broker events (then a snapshot holds nothing to judge).
    pub fn only_events(&self) -> bool {
        !self.sources.is_empty()
            && self
                .sources
                .iter()
                .all(|s| matches!(s.rule, Rule::Event { .. }))
    }

    /// Whether a retained convention is read through a wildcard filter: then an empty
    /// snapshot may be a broker that never delivers retained messages to wildcards.
    pub fn retained_wildcards(&self) -> bool {
        self.sources
            .iter()
            .any(|s| s.pattern.has_wildcard() && !matches!(s.rule, Rule::Event { .. }))
    }

    pub fn filters(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| s.pattern.filter().to_owned())
            .collect()
    }
}

/// `--color`: `auto` colours on a terminal unless `NO_COLOR` is set (no-color.org).
pub fn use_color(choice: ColorChoice, stream_is_terminal: bool) -> bool {
    ColorPolicy(choice).enabled(stream_is_terminal)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorPolicy(pub ColorChoice);

impl ColorPolicy {
    pub fn enabled(self, stream_is_terminal: bool) -> bool {
        match self.0 {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}
