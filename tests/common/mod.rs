//! Test fixtures: a real mosquitto on a free loopback port, and helpers that drive it with
//! real clients (mosquitto_pub from libmosquitto, rumqttc).

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_mqtt-scan");

/// A mosquitto broker of the test's own: free port, temporary config, killed by its pid on
/// drop, its log printed when the test fails.
pub struct Mosquitto {
    pub port: u16,
    pub dir: TempDir,
    child: Option<Child>,
    conf: PathBuf,
    log: PathBuf,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Mosquitto {
    /// A default-config broker: anonymous access on 127.0.0.1.
    pub fn start() -> Self {
        Self::with(|port, _| format!("listener {port} 127.0.0.1\nallow_anonymous true\n"))
    }

    /// `listeners` writes the listener section given the port and the temp dir.
    pub fn with(listeners: impl Fn(u16, &Path) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::in_dir(dir, listeners)
    }

    pub fn in_dir(dir: TempDir, listeners: impl Fn(u16, &Path) -> String) -> Self {
        let conf = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        // A port taken by another test between free_port() and the bind: try a new one.
        for _ in 0..5 {
            let port = free_port();
            // `user root` keeps a broker started by root from dropping to a user that
            // cannot read the temp dir; mosquitto ignores it when not root.
            let text = format!(
                "user root\npersistence false\nlog_type all\n{}",
                listeners(port, dir.path())
            );
            fs::write(&conf, text).unwrap();
            if let Some(child) = launch(&conf, &log, port) {
                return Self {
                    port,
                    dir,
                    child: Some(child),
                    conf,
                    log,
                };
            }
        }
        panic!(
            "mosquitto did not start:\n{}",
            fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// A broker where anonymous clients get `anonymous_acl` and the user `writer`
    /// (password `pw`) may read and write everything.
    pub fn with_writer(anonymous_acl: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        let made = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwd)
            .args(["writer", "pw"])
            .status()
            .unwrap();
        assert!(made.success());
        let acl = write(
            dir.path(),
            "acl",
            format!("{anonymous_acl}user writer\ntopic readwrite #\n"),
        );
        Self::in_dir(dir, move |port, _| {
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npassword_file {}\nacl_file {}\n",
                passwd.display(),
                acl.display()
            )
        })
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the broker (SIGKILL via its pid) and waits for it to go.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same config.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // The old socket may linger for a moment: retry the bind until the deadline.
            if let Some(child) = launch(&self.conf, &self.log, self.port) {
                self.child = Some(child);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "mosquitto did not restart on port {}:\n{}",
            self.port,
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `mosquitto_pub` (libmosquitto) with the given extra arguments.
    pub fn pub_cmd(&self, args: &[&str]) {
        mosquitto_pub(self.port, args);
    }

    /// `mosquitto_sub` (libmosquitto) against this broker, with the given extra arguments.
    pub fn sub_cmd(&self, args: &[&str]) -> Output {
        Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap()
    }

    /// A retained status published by the `writer` of [`Mosquitto::with_writer`].
    pub fn retain_as_writer(&self, topic: &str, payload: &str) {
        self.pub_cmd(&[
            "-u", "writer", "-P", "pw", "-r", "-q", "1", "-t", topic, "-m", payload,
        ]);
    }

    /// A retained status at QoS 1, as a client following the convention publishes it.
    pub fn retain(&self, topic: &str, payload: &str) {
        self.pub_cmd(&["-r", "-q", "1", "-t", topic, "-m", payload]);
    }

    /// Clears a retained message (empty retained publish).
    pub fn clear(&self, topic: &str) {
        self.pub_cmd(&["-r", "-q", "1", "-t", topic, "-n"]);
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- mosquitto log (port {}) ---\n{}",
                self.port,
                self.log_text()
            );
        }
    }
}

/// Debian installs the broker in /usr/sbin, which a non-root PATH may lack.
fn mosquitto_bin() -> &'static str {
    if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}

/// Starts mosquitto and waits (bounded) until it accepts connections; None if it exited.
fn launch(conf: &Path, log: &Path, port: u16) -> Option<Child> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(mosquitto_bin())
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("mosquitto is not installed: apt-get install mosquitto mosquitto-clients");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `mqtt-scan` with the broker set.
/// Polls `f` for up to half a second (None then): one try inside a [`wait_for`] that
/// repeats an action until it is seen.
pub fn wait_briefly<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_millis(500);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `mosquitto_pub` (libmosquitto) to the broker on this loopback port; it must succeed.
pub fn mosquitto_pub(port: u16, args: &[&str]) {
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mosquitto_pub {args:?} (port {port}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn scan(broker: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["-b", broker])
        .env_remove("MQTT_SCAN_BROKER")
        .env_remove("MQTT_SCAN_TOPIC")
        .env_remove("MQTT_SCAN_PASSWORD")
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Each listed client's name and state.
pub fn list_states(url: &str) -> std::collections::BTreeMap<String, String> {
    states(&list_json(url, &[]))
}

/// Each row's name and state in `list --json`'s document.
pub fn states(doc: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `list --json`, parsed; panics with stderr when it fails.
pub fn list_json(broker: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["list", "--json"];
    args.extend_from_slice(extra);
    list_doc(&scan(broker, &args))
}

/// The document of a `list --json` run; panics with stderr when it failed.
pub fn list_doc(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "list failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

pub fn client<'a>(doc: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
}

/// Each line `r` gives, collected as it comes by a thread of its own (and echoed to
/// stderr after `echo`, when given).
pub fn collect_lines(
    r: impl std::io::Read + Send + 'static,
    echo: Option<&'static str>,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    std::thread::JoinHandle<()>,
) {
    use std::io::BufRead;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if let Some(prefix) = echo {
                eprintln!("{prefix}{line}");
            }
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

/// Sends `sig` to `child` and waits (bounded) for its exit status.
pub fn signal_and_wait(
    child: &mut Child,
    sig: &str,
    what: &str,
    deadline: Duration,
) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    wait_for(&format!("{what} to exit"), deadline, || {
        child.try_wait().unwrap()
    })
}

/// Polls `check` until it holds or the deadline passes; returns the last value.
pub fn wait_for<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub mod brokers;

#[path = "../../examples/seed.rs"]
mod seeder;

/// `n` retained statuses `sensors/connected/dev{i}` at QoS 1, every `offline_every`-th
/// offline; returns how many are offline.
pub fn seed(port: u16, n: usize, offline_every: usize) -> usize {
    seeder::seed("127.0.0.1", port, n, offline_every, true)
}

/// Writes a file in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    let mut f = fs::File::create(&p).unwrap();
    f.write_all(contents.as_ref()).unwrap();
    p
}

/// Publishes raw (possibly binary) retained payloads at QoS 1 with rumqttc and waits for
/// every PUBACK.
pub fn publish_raw(port: u16, messages: Vec<(String, Vec<u8>)>) {
    let n = messages.len();
    seeder::publish_retained("127.0.0.1", port, n, messages.into_iter(), true);
}

/// A publisher that sends `payload` to `topic` at QoS 0 as fast as the broker takes it,
/// until dropped.
pub struct Flood {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Flood {
    pub fn start(port: u16, topic: &str, payload: Vec<u8>) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let topic = topic.to_owned();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let id = format!("flood-{port}-{}", topic.replace('/', "-"));
                let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
                o.set_max_packet_size(4 << 20, 4 << 20);
                let (client, mut lp) = rumqttc::AsyncClient::new(o, 64);
                let poller = tokio::spawn(async move { while lp.poll().await.is_ok() {} });
                let mut sent = 0u64;
                while !flag.load(Ordering::Relaxed) {
                    if client
                        .publish(
                            topic.as_str(),
                            rumqttc::QoS::AtMostOnce,
                            false,
                            payload.clone(),
                        )
                        .await
                        .is_err()
                    {
                        break;
                    }
                    sent += 1;
                }
                poller.abort();
                sent
            })
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `mqtt-scan watch --format jsonl` as a child process, its stdout read line by line.
pub struct Watch {
    child: Option<std::process::Child>,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    pub fn start(broker: &str, extra: &[&str]) -> Self {
        Self::start_format(broker, "jsonl", extra)
    }

    pub fn start_format(broker: &str, format: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["watch", "--format", format, "-b", broker])
            .args(extra)
            .env_remove("MQTT_SCAN_TOPIC")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (errors, _) = collect_lines(child.stderr.take().unwrap(), Some(""));
        let (lines, reader) = collect_lines(child.stdout.take().unwrap(), None);
        Self {
            child: Some(child),
            lines,
            errors,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> String {
        self.child.as_ref().unwrap().id().to_string()
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// What it printed to stderr so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// The JSON lines so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// Waits for an event line that `pred` accepts (searching from the start).
    pub fn wait_event(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        wait_for(what, Duration::from_secs(20), || {
            self.events().into_iter().find(|e| pred(e))
        })
    }

    /// Sends a signal and waits (bounded) for the exit status.
    pub fn signal(&mut self, sig: &str) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = signal_and_wait(&mut child, sig, "the watcher", Duration::from_secs(10));
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        status
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- watch output ---\n{}", self.lines().join("\n"));
        }
    }
}

/// A change event for `name` going to `to`.
pub fn is_change(e: &serde_json::Value, name: &str, to: &str) -> bool {
    e["event"] == "change" && e["name"] == name && e["to"] == to
}

/// A loopback TCP proxy to `port` that drops the connections whose 1-based numbers are in
/// `refuse` (right after accepting them) and forwards all others.
pub fn refusing_proxy(port: u16, refuse: &'static [usize]) -> u16 {
    proxy(port, refuse, Duration::ZERO)
}

/// A loopback TCP proxy to `port` that holds back the broker's first reply on every
/// connection (the CONNACK) for `delay`.
pub fn delaying_proxy(port: u16, delay: Duration) -> u16 {
    proxy(port, &[], delay)
}

/// The shape every test proxy shares: a loopback listener in front of `port`; for each
/// connection (numbered from 1) `admit` decides whether to serve it or drop it at once, the
/// client's bytes pass to the broker as they are, and `downstream(from_broker, to_client)`
/// carries the other way, as each fault needs. Returns the proxy's port.
fn proxy_with(
    port: u16,
    admit: impl Fn(usize) -> bool + Send + 'static,
    downstream: impl Fn(TcpStream, TcpStream) + Send + Clone + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(client) = conn else { return };
            if !admit(i + 1) {
                drop(client);
                continue;
            }
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c1, mut s1) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut s1);
                let _ = s1.shutdown(std::net::Shutdown::Both);
            });
            let downstream = downstream.clone();
            std::thread::spawn(move || downstream(s2, c2));
        }
    });
    proxy_port
}

fn proxy(port: u16, refuse: &'static [usize], delay_first_reply: Duration) -> u16 {
    use std::io::{Read, Write};
    proxy_with(
        port,
        move |i| !refuse.contains(&i),
        move |mut s2, mut c2| {
            let mut buf = [0u8; 4096];
            let mut first = true;
            while let Ok(n) = s2.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if std::mem::take(&mut first) {
                    std::thread::sleep(delay_first_reply);
                }
                if c2.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = c2.shutdown(std::net::Shutdown::Both);
        },
    )
}

/// A libmosquitto client (`mosquitto_sub`) with a retained Will `0` on
/// `sensors/connected/{id}`, connected once the broker has logged it.
pub fn will_client(m: &Mosquitto, id: &str) -> std::process::Child {
    let child = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &m.port.to_string(),
            "-i",
            id,
            "-t",
            &format!("cmd/{id}"),
        ])
        .args([
            "--will-topic",
            &format!("sensors/connected/{id}"),
            "--will-payload",
            "0",
            "--will-retain",
        ])
        .args(["--will-qos", "1"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the client to connect", Duration::from_secs(10), || {
        m.log_text().contains(&format!("as {id} ")).then_some(())
    });
    child
}

/// A broker that keeps its retained messages over a restart (saved on every change).
pub fn persistent_broker() -> Mosquitto {
    Mosquitto::with(|port, dir| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\nautosave_on_changes true\n",
            dir.display()
        )
    })
}

/// A loopback TCP proxy to `port` that forwards the first `after` bytes the broker sends on
/// each connection and then closes both sides: a connection cut in the middle of the
/// retained snapshot. Returns the proxy's port.
pub fn cutting_proxy(port: u16, after: usize) -> u16 {
    limiting_proxy(port, after, true)
}

/// Like [`cutting_proxy`], but after `after` bytes the connection stays open and silent:
/// what the broker sends next is swallowed (a broker that hangs after its CONNACK).
pub fn stalling_proxy(port: u16, after: usize) -> u16 {
    limiting_proxy(port, after, false)
}

fn limiting_proxy(port: u16, after: usize, close: bool) -> u16 {
    use std::io::{Read, Write};
    proxy_with(
        port,
        |_| true,
        move |mut s2, mut c2| {
            let mut buf = [0u8; 4096];
            let mut left = after;
            while left > 0 {
                let Ok(n) = s2.read(&mut buf) else { break };
                if n == 0 {
                    break;
                }
                let n = n.min(left);
                if c2.write_all(&buf[..n]).is_err() {
                    break;
                }
                left -= n;
            }
            if !close {
                while matches!(s2.read(&mut buf), Ok(n) if n > 0) {}
            }
            let _ = c2.shutdown(std::net::Shutdown::Both);
            let _ = s2.shutdown(std::net::Shutdown::Both);
        },
    )
}

/// A loopback MQTT-aware proxy to `port` that silently drops every `nth` retained PUBLISH
/// the broker sends outside `$SYS` (a lossy path between broker and client). Returns the
/// proxy's port.
pub fn dropping_proxy(port: u16, nth: usize) -> u16 {
    use std::io::{BufReader, Read, Write};
    proxy_with(
        port,
        |_| true,
        move |s2, c2| {
            let mut from = BufReader::with_capacity(1 << 16, s2);
            let mut to = std::io::BufWriter::with_capacity(1 << 16, c2);
            let mut seen = 0usize;
            loop {
                // One MQTT packet: fixed header byte, variable-length remaining length.
                let mut first = [0u8; 1];
                if from.read_exact(&mut first).is_err() {
                    break;
                }
                let mut header = vec![first[0]];
                let mut len = 0usize;
                let mut shift = 0;
                loop {
                    let mut b = [0u8; 1];
                    if from.read_exact(&mut b).is_err() {
                        return;
                    }
                    header.push(b[0]);
                    len |= usize::from(b[0] & 0x7f) << shift;
                    shift += 7;
                    if b[0] & 0x80 == 0 {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                if from.read_exact(&mut body).is_err() {
                    break;
                }
                let retained_publish = first[0] >> 4 == 3 && first[0] & 1 == 1;
                let sys = body.len() > 6 && &body[2..7] == b"$SYS/";
                let dropped = retained_publish && !sys && {
                    seen += 1;
                    seen.is_multiple_of(nth)
                };
                if !dropped && (to.write_all(&header).is_err() || to.write_all(&body).is_err()) {
                    break;
                }
                if from.buffer().is_empty() && to.flush().is_err() {
                    break;
                }
            }
            let _ = to.flush();
            let _ = to.get_ref().shutdown(std::net::Shutdown::Both);
        },
    )
}

/// A loopback TCP proxy to `port` with a gate: while closed, new connections are dropped
/// as soon as they are accepted (the broker looks down); open ones are forwarded.
pub struct Gate {
    pub port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Gate {
    pub fn new(port: u16) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let open = std::sync::Arc::new(AtomicBool::new(true));
        let flag = open.clone();
        let proxy_port = proxy_with(
            port,
            move |_| flag.load(Ordering::SeqCst),
            |mut s2, mut c2| {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Both);
            },
        );
        Self {
            port: proxy_port,
            open,
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn set_open(&self, open: bool) {
        self.open.store(open, std::sync::atomic::Ordering::SeqCst);
    }
}
