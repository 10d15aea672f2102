//! The brokers people run, each a real server of the test's own on a free loopback port:
//! mosquitto (the [`Mosquitto`] fixture), aedes (npm), amqtt (PyPI), RabbitMQ with its MQTT
//! plugin (Debian), rumqttd (the `rumqttd` example) and rmqtt (tests/brokers/rmqtt).
//!
//! Each is ready once it has answered an MQTT CONNECT, and is stopped by its pid on drop.
//! RabbitMQ takes seconds to boot, so one node serves the whole test binary: every test gets
//! topics under a prefix of its own, and the node (with its children and its private epmd)
//! is killed by a watchdog when the test binary exits.
//!
//! A broker that is not installed is skipped with one line on stderr saying how to install
//! it; with `CI=true` it is a failure instead, so CI never skips one silently.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{free_port, Mosquitto, BIN};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Mosquitto,
    Aedes,
    Amqtt,
    RabbitMq,
    Rumqttd,
    Rmqtt,
}

/// The repository's root (where the broker projects and the venv live).
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn amqtt_bin() -> PathBuf {
    repo().join("target/amqtt-venv/bin/amqtt")
}

fn rmqtt_bin() -> PathBuf {
    repo().join("target/rmqtt/release/rmqtt-test-broker")
}

const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mosquitto => "mosquitto",
            Kind::Aedes => "aedes",
            Kind::Amqtt => "amqtt",
            Kind::RabbitMq => "rabbitmq",
            Kind::Rumqttd => "rumqttd",
            Kind::Rmqtt => "rmqtt",
        }
    }

    /// Whether the broker speaks MQTT 5 (on [`Broker::v5_port`]).
    pub fn speaks_v5(self) -> bool {
        matches!(self, Kind::Mosquitto | Kind::Rumqttd | Kind::Rmqtt)
    }

    /// How to install it, when it is missing.
    fn install(self) -> &'static str {
        match self {
            Kind::Mosquitto => "apt-get install mosquitto mosquitto-clients",
            Kind::Aedes => "npm ci --prefix tests/brokers/aedes (node and npm: apt-get install nodejs npm)",
            Kind::Amqtt => "python3 -m venv target/amqtt-venv && target/amqtt-venv/bin/pip install -r tests/brokers/amqtt/requirements.txt",
            Kind::RabbitMq => "apt-get install rabbitmq-server",
            Kind::Rumqttd => "cargo build --example rumqttd",
            Kind::Rmqtt => "cargo build --release --locked --manifest-path tests/brokers/rmqtt/Cargo.toml --target-dir target/rmqtt",
        }
    }

    fn installed(self) -> bool {
        let on_path = |name: &str| {
            std::env::var_os("PATH").is_some_and(|p| {
                std::env::split_paths(&p)
                    .chain([PathBuf::from("/usr/sbin")])
                    .any(|d| d.join(name).is_file())
            })
        };
        match self {
            Kind::Mosquitto => on_path("mosquitto") && on_path("mosquitto_pub"),
            Kind::Aedes => {
                on_path("node")
                    && repo()
                        .join("tests/brokers/aedes/node_modules/aedes")
                        .is_dir()
            }
            Kind::Amqtt => amqtt_bin().is_file(),
            Kind::RabbitMq => Path::new(RABBITMQ_SERVER).is_file(),
            Kind::Rumqttd => true,
            Kind::Rmqtt => rmqtt_bin().is_file(),
        }
    }
}

/// One running broker of a [`Kind`].
pub struct Broker {
    pub kind: Kind,
    pub port: u16,
    /// Where it speaks MQTT 5 (rumqttd has a listener of its own for it).
    pub v5_port: Option<u16>,
    /// Every topic of this test starts with it: empty, except on the shared RabbitMQ node.
    pub prefix: String,
    server: Server,
}

enum Server {
    Mosquitto(Mosquitto),
    Process(Process),
    Shared(&'static RabbitNode),
}

/// A broker process of the test's own: killed by its pid on drop, its log printed when the
/// test fails.
struct Process {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// Starts a broker of `kind`; None (after one line on stderr) when it is not installed
    /// and CI is not set.
    pub fn start(kind: Kind) -> Option<Self> {
        Self::start_with(kind, &[])
    }

    /// aedes that lets clients publish under `$SYS` (its default `authorizePublish` refuses
    /// them), so a test can play another broker's client events.
    pub fn aedes_allowing_sys() -> Option<Self> {
        Self::start_with(Kind::Aedes, &["--allow-sys"])
    }

    /// amqtt without its `$SYS` plugin: a broker that does not say which one it is.
    pub fn amqtt_without_sys() -> Option<Self> {
        Self::start_with(Kind::Amqtt, &["--no-sys"])
    }

    fn start_with(kind: Kind, extra: &[&str]) -> Option<Self> {
        if !kind.installed() {
            skip(kind);
            return None;
        }
        let mut v5_port = kind.speaks_v5().then_some(0);
        let mut prefix = String::new();
        let server = match kind {
            Kind::Mosquitto => Server::Mosquitto(Mosquitto::start()),
            Kind::RabbitMq => {
                static NEXT: AtomicUsize = AtomicUsize::new(1);
                prefix = format!("t{}/", NEXT.fetch_add(1, Ordering::SeqCst));
                Server::Shared(RabbitNode::shared())
            }
            _ => {
                let (process, v5) = spawn_process(kind, extra);
                v5_port = v5_port.map(|_| v5);
                Server::Process(process)
            }
        };
        let port = match &server {
            Server::Mosquitto(m) => m.port,
            Server::Process(p) => p.port,
            Server::Shared(node) => node.port,
        };
        let v5_port = v5_port.map(|p| if p == 0 { port } else { p });
        Some(Self {
            kind,
            port,
            v5_port,
            prefix,
            server,
        })
    }

    #[allow(clippy::unused_self)] // every broker is on loopback; callers ask the broker
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The `-b` URL.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The `-b` URL for MQTT 5 (None where the broker does not speak it).
    pub fn v5_url(&self) -> Option<String> {
        self.v5_port.map(|p| format!("mqtt://127.0.0.1:{p}"))
    }

    /// The status topic of client `name`: the default convention, under the test's prefix.
    pub fn topic(&self, name: &str) -> String {
        format!("{}sensors/connected/{name}", self.prefix)
    }

    /// The `-t` arguments that select this test's statuses: none (the default topic) unless
    /// the broker is shared.
    pub fn topic_args(&self) -> Vec<String> {
        if self.prefix.is_empty() {
            Vec::new()
        } else {
            vec!["-t".into(), format!("{}sensors/connected/#", self.prefix)]
        }
    }

    /// `mosquitto_pub` (libmosquitto) against this broker.
    pub fn pub_cmd(&self, args: &[&str]) {
        super::mosquitto_pub(self.port, args);
    }

    /// A retained status at QoS 1 for client `name`.
    pub fn retain(&self, name: &str, payload: &str) {
        self.pub_cmd(&["-r", "-q", "1", "-t", &self.topic(name), "-m", payload]);
    }

    /// Waits until some client subscribed to `filter` (aedes logs each subscription).
    pub fn wait_subscribed(&self, filter: &str) {
        let line = format!(" {filter}\n");
        super::wait_for(
            &format!("a subscription to {filter} on {}", self.kind.name()),
            Duration::from_secs(20),
            || {
                self.log_text()
                    .lines()
                    .any(|l| l.starts_with("subscribe ") && format!("{l}\n").ends_with(&line))
                    .then_some(())
            },
        );
    }

    /// What the broker logged so far (mosquitto, processes; RabbitMQ: its node's log).
    pub fn log_text(&self) -> String {
        let path = match &self.server {
            Server::Mosquitto(m) => return m.log_text(),
            Server::Process(p) => p.log.clone(),
            Server::Shared(node) => node.log.clone(),
        };
        fs::read_to_string(path).unwrap_or_default()
    }

    /// The broker's pid (RabbitMQ: the node's process group).
    pub fn pid(&self) -> u32 {
        match &self.server {
            Server::Mosquitto(m) => m.pid(),
            Server::Process(p) => p.child.id(),
            Server::Shared(node) => node.pgid,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() && !matches!(self.server, Server::Mosquitto(_)) {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "--- {} log (port {}, last {} lines) ---",
                self.kind.name(),
                self.port,
                tail.len()
            );
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Starts a broker or returns from the test when it is not installed (see [`Broker::start`]).
#[macro_export]
macro_rules! broker_or_skip {
    ($kind:expr) => {
        match $crate::common::brokers::Broker::start($kind) {
            Some(b) => b,
            None => return,
        }
    };
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// One line per missing broker and test binary, past the test harness's capture; a failure
/// under CI.
fn skip(kind: Kind) {
    static SAID: Mutex<Option<HashSet<Kind>>> = Mutex::new(None);
    let line = format!("skipping {}: run {}", kind.name(), kind.install());
    assert!(
        !ci(),
        "CI=true and {} is not installed: {}",
        kind.name(),
        kind.install()
    );
    let mut said = SAID
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if said.get_or_insert_with(HashSet::new).insert(kind) {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// Starts aedes, amqtt, rumqttd or rmqtt on free ports; returns it and its MQTT 5 port (0:
/// the same port).
fn spawn_process(kind: Kind, extra: &[&str]) -> (Process, u16) {
    let mut last_log = String::new();
    // A port taken by another test between free_port() and the bind: try new ones.
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(format!("{}.log", kind.name()));
        let port = free_port();
        let v5 = if kind == Kind::Rumqttd {
            free_port()
        } else {
            0
        };
        let mut cmd = match kind {
            Kind::Aedes => {
                let mut c = Command::new("node");
                c.arg(repo().join("tests/brokers/aedes/server.js"))
                    .arg(port.to_string())
                    .args(extra);
                c
            }
            Kind::Amqtt => {
                let sys = !extra.contains(&"--no-sys");
                let conf = super::write(dir.path(), "amqtt.yaml", amqtt_config(port, sys));
                let mut c = Command::new(amqtt_bin());
                c.arg("-c").arg(conf);
                c
            }
            Kind::Rumqttd => {
                let mut c = Command::new(example("rumqttd"));
                c.args([port.to_string(), v5.to_string()]);
                c
            }
            Kind::Rmqtt => {
                let mut c = Command::new(rmqtt_bin());
                c.arg(port.to_string());
                c
            }
            Kind::Mosquitto | Kind::RabbitMq => unreachable!("not a process fixture"),
        };
        let out = fs::File::create(&log).unwrap();
        let child = cmd
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", kind.name()));
        let mut process = Process {
            child,
            port,
            log: log.clone(),
            _dir: dir,
        };
        let ready = wait_connack(port, Duration::from_secs(30), || {
            matches!(process.child.try_wait(), Ok(Some(_)))
        }) && (v5 == 0
            || wait_connack_version(v5, 5, Duration::from_secs(10), || false));
        if ready {
            return (process, v5);
        }
        last_log = fs::read_to_string(&log).unwrap_or_default();
    }
    panic!("{} did not start:\n{last_log}", kind.name());
}

/// amqtt's own default configuration (`amqtt` without `-c`) on our port, minus the packet
/// logger: anonymous access and (with `sys`) the `$SYS` plugin.
fn amqtt_config(port: u16, sys: bool) -> String {
    let mut conf = format!(
        "---\nlisteners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\nplugins:\n  amqtt.plugins.logging_amqtt.EventLoggerPlugin:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
    );
    if sys {
        conf.push_str("  amqtt.plugins.sys.broker.BrokerSysPlugin:\n    sys_interval: 20\n");
    }
    conf
}

/// The example's binary (beside the binary under test, in `examples/`), brought up to date
/// once per test binary: `cargo test --test NAME` builds no example, and one built by an
/// earlier run may be stale.
pub fn example(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let dir = PathBuf::from(BIN).parent().unwrap().to_path_buf();
    let path = dir.join("examples").join(name);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if built
        .get_or_insert_with(HashSet::new)
        .insert(name.to_owned())
    {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--quiet", "--locked", "--example", name]);
        if dir.ends_with("release") {
            cargo.arg("--release");
        }
        let status = cargo.current_dir(repo()).status().unwrap();
        assert!(status.success(), "cargo build --example {name}");
    }
    path
}

/// Waits until the broker on `port` answers an MQTT 3.1.1 CONNECT with an accepting
/// CONNACK (then says DISCONNECT), until `deadline` or until `gone()` says it exited.
pub fn wait_connack(port: u16, deadline: Duration, gone: impl FnMut() -> bool) -> bool {
    wait_connack_version(port, 4, deadline, gone)
}

/// As [`wait_connack`], over MQTT `level` (4: 3.1.1, 5: 5).
pub fn wait_connack_version(
    port: u16,
    level: u8,
    deadline: Duration,
    mut gone: impl FnMut() -> bool,
) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if gone() {
            return false;
        }
        if connack(port, level) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn connack(port: u16, level: u8) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let id = format!("ready-{}-{port}", std::process::id());
    // CONNECT: "MQTT", the level, clean session, keepalive 10 s, (MQTT 5: no properties),
    // the client id.
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', level, 0x02, 0, 10];
    if level == 5 {
        body.push(0);
    }
    body.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut packet = vec![0x10, u8::try_from(body.len()).unwrap()];
    packet.extend_from_slice(&body);
    if s.write_all(&packet).is_err() {
        return false;
    }
    // CONNACK: 0x20, length, flags, return (reason) code 0.
    let mut ack = [0u8; 4];
    let ok = s.read_exact(&mut ack).is_ok() && ack[0] == 0x20 && ack[3] == 0x00;
    if ok {
        let disconnect: &[u8] = if level == 5 {
            &[0xe0, 0x01, 0x00]
        } else {
            &[0xe0, 0x00]
        };
        let _ = s.write_all(disconnect);
    }
    ok
}

/// The RabbitMQ node every test of the binary shares.
struct RabbitNode {
    port: u16,
    pgid: u32,
    log: PathBuf,
    /// Closed when the test binary exits: the watchdog then kills the node.
    _watchdog: Mutex<ChildStdin>,
}

impl RabbitNode {
    fn shared() -> &'static RabbitNode {
        static NODE: OnceLock<Result<RabbitNode, String>> = OnceLock::new();
        match NODE.get_or_init(RabbitNode::boot) {
            Ok(node) => node,
            Err(e) => panic!("{e}"),
        }
    }

    /// Boots a node in a temp dir: the MQTT plugin on a free loopback port, anonymous
    /// (guest) access allowed from loopback, AMQP off, a private epmd.
    fn boot() -> Result<RabbitNode, String> {
        let mut last = String::new();
        for _ in 0..3 {
            // Kept past the TempDir: the watchdog removes it when the node goes.
            let dir = tempfile::tempdir().unwrap().keep();
            let (port, dist, epmd) = (free_port(), free_port(), free_port());
            let conf = super::write(
                &dir,
                "rabbitmq.conf",
                format!(
                    "listeners.tcp = none\nmqtt.listeners.tcp.default = 127.0.0.1:{port}\nmqtt.allow_anonymous = true\nloopback_users = none\n"
                ),
            );
            let plugins = super::write(&dir, "enabled_plugins", "[rabbitmq_mqtt].\n");
            let log = dir.join("startup.log");
            let out = fs::File::create(&log).unwrap();
            let node = format!("mqtt-scan-test-{port}@localhost");
            let mut child = {
                use std::os::unix::process::CommandExt;
                Command::new(RABBITMQ_SERVER)
                    .current_dir(&dir)
                    .env("RABBITMQ_NODENAME", &node)
                    .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
                    .env("RABBITMQ_NODE_PORT", free_port().to_string())
                    .env("RABBITMQ_DIST_PORT", dist.to_string())
                    .env("ERL_EPMD_PORT", epmd.to_string())
                    .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
                    .env("RABBITMQ_LOG_BASE", dir.join("log"))
                    .env("RABBITMQ_PLUGINS_EXPAND_DIR", dir.join("plugins-expand"))
                    .env("RABBITMQ_ENABLED_PLUGINS_FILE", &plugins)
                    .env("RABBITMQ_CONFIG_FILE", &conf)
                    .env("HOME", &dir)
                    .stdin(Stdio::null())
                    .stdout(out.try_clone().unwrap())
                    .stderr(out)
                    // A group of its own: the watchdog kills the whole node with it.
                    .process_group(0)
                    .spawn()
                    .map_err(|e| format!("starting RabbitMQ: {e}"))?
            };
            let pgid = child.id();
            // The watchdog: when the test binary exits (its stdin closes), it kills the
            // node's process group and the node's epmd, and removes the node's files.
            let mut watchdog = Command::new("sh")
                .args([
                    "-c",
                    // (dash's kill takes `-9 -PGID`; epmd refuses to go while the node
                    // is still registered, so it is asked again until it does.)
                    "trap '' INT TERM HUP; cat >/dev/null; kill -9 -\"$1\" 2>/dev/null; \
                     for i in 1 2 3 4 5 6 7 8 9 10; do \
                       ERL_EPMD_PORT=\"$2\" epmd -kill >/dev/null 2>&1 && break; sleep 0.2; \
                     done; rm -rf \"$3\"",
                    "rabbitmq-watchdog",
                ])
                .arg(pgid.to_string())
                .arg(epmd.to_string())
                .arg(&dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting the RabbitMQ watchdog: {e}"))?;
            let stdin = watchdog.stdin.take().unwrap();
            let ready = wait_connack(port, Duration::from_secs(120), || {
                matches!(child.try_wait(), Ok(Some(_)))
            });
            let main_log = dir.join("log").join(format!("{node}.log"));
            if ready {
                return Ok(RabbitNode {
                    port,
                    pgid,
                    log: main_log,
                    _watchdog: Mutex::new(stdin),
                });
            }
            last = format!(
                "{}\n{}",
                fs::read_to_string(&log).unwrap_or_default(),
                fs::read_to_string(&main_log).unwrap_or_default()
            );
            // Closing the pipe lets the watchdog clean up this attempt.
            drop(stdin);
            let _ = watchdog.wait();
            let _ = child.wait();
        }
        Err(format!("RabbitMQ did not start:\n{last}"))
    }
}
