//! `mqtt-scan serve` as a child process, and a plain HTTP/1.0 client over a TcpStream to
//! talk to it (and to Prometheus): no HTTP library between the test and the bytes.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{collect_lines, signal_and_wait, wait_for, BIN};

/// `mqtt-scan serve --listen 127.0.0.1:0`: the port it took is read from its first line.
pub struct Serve {
    child: Option<Child>,
    pub port: u16,
    errors: Arc<Mutex<Vec<String>>>,
    /// XDG_STATE_HOME, where the default history database goes (one per serve).
    pub state: Arc<tempfile::TempDir>,
}

impl Serve {
    pub fn start(broker: &str, extra: &[&str]) -> Self {
        Self::start_in(Arc::new(tempfile::tempdir().unwrap()), broker, extra)
    }

    /// With this XDG_STATE_HOME: a restart finds the same default database.
    pub fn start_in(state: Arc<tempfile::TempDir>, broker: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "-b", broker, "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("MQTT_SCAN_TOPIC")
            .env("XDG_STATE_HOME", state.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (errors, _) = collect_lines(child.stderr.take().unwrap(), Some("serve: "));
        let port = wait_for("serve to listen", Duration::from_secs(20), || {
            errors.lock().unwrap().iter().find_map(|l| {
                let rest = l.strip_prefix("mqtt-scan: serving http://127.0.0.1:")?;
                rest.split('/').next()?.parse().ok()
            })
        });
        Self {
            child: Some(child),
            port,
            errors,
            state,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    pub fn get(&self, path: &str) -> Response {
        get(self.port, path, &[])
    }

    /// GET, the body as JSON (panics unless it is).
    pub fn json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(path);
        let v = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", r.body));
        (r.status, v)
    }

    /// Waits until /readyz says 200.
    pub fn wait_ready(&self) {
        wait_for("serve to be ready", Duration::from_secs(20), || {
            (self.get("/readyz").status == 200).then_some(())
        });
    }

    /// Sends a signal and waits (bounded) for the exit status.
    pub fn signal(&mut self, sig: &str) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        signal_and_wait(&mut child, sig, "serve", Duration::from_secs(15))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A GET over HTTP/1.0 (the server closes the connection after the body, so no chunked
/// encoding to undo).
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = request(port, path, headers);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn request(port: u16, path: &str, headers: &[(&str, &str)]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        req.push_str(k);
        req.push_str(": ");
        req.push_str(v);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s
}

/// One Server-Sent Event: its type (`message` unless given) and its data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// An open `/api/events` stream, read by a thread of its own (or not at all, for a reader
/// that lags: see [`Sse::open_unread`]).
pub struct Sse {
    pub status: u16,
    pub head: String,
    events: Arc<Mutex<Vec<SseEvent>>>,
    ended: Arc<Mutex<bool>>,
    stream: Option<BufReader<TcpStream>>,
}

impl Sse {
    /// Opens the stream and reads it as it comes.
    pub fn open(port: u16) -> Self {
        let mut s = Self::open_unread(port);
        s.read_in_background();
        s
    }

    /// Opens the stream and reads only the response head: the events wait in the socket.
    pub fn open_unread(port: u16) -> Self {
        let s = request(port, "/api/events", &[]);
        let mut r = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Self {
            status,
            head,
            events: Arc::new(Mutex::new(Vec::new())),
            ended: Arc::new(Mutex::new(false)),
            stream: Some(r),
        }
    }

    /// Starts reading (for a stream opened unread).
    pub fn read_in_background(&mut self) {
        let r = self.stream.take().unwrap();
        let events = self.events.clone();
        let ended = self.ended.clone();
        std::thread::spawn(move || {
            let (mut event, mut data) = (String::new(), Vec::<String>::new());
            for line in r.lines() {
                let Ok(line) = line else { break };
                if line.is_empty() {
                    if !data.is_empty() {
                        events.lock().unwrap().push(SseEvent {
                            event: if event.is_empty() {
                                "message".into()
                            } else {
                                std::mem::take(&mut event)
                            },
                            data: data.join("\n"),
                        });
                    }
                    event.clear();
                    data.clear();
                } else if let Some(d) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                    data.push(d.to_owned());
                } else if let Some(e) = line.strip_prefix("event: ").or(line.strip_prefix("event:"))
                {
                    e.clone_into(&mut event);
                }
            }
            *ended.lock().unwrap() = true;
        });
    }

    pub fn events(&self) -> Vec<SseEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Looks at the events so far without copying them (a flood is hundreds of thousands).
    pub fn with_events<T>(&self, f: impl FnOnce(&[SseEvent]) -> T) -> T {
        f(&self.events.lock().unwrap())
    }

    /// The `data:` of the plain (`message`) events, parsed.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.events()
            .iter()
            .filter(|e| e.event == "message")
            .map(|e| {
                serde_json::from_str(&e.data).unwrap_or_else(|err| panic!("{err}: {}", e.data))
            })
            .collect()
    }

    pub fn ended(&self) -> bool {
        *self.ended.lock().unwrap()
    }
}

/// A query string value, percent-encoded.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A real Prometheus (Debian's package) on a free loopback port, scraping one target every
/// second; killed by its pid on drop, its log printed when the test fails.
pub struct Prometheus {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn start(binary: &std::path::Path, target_port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::common::write(
            dir.path(),
            "prometheus.yml",
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: mqtt-scan\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
            ),
        );
        let port = crate::common::free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        Self { port, child, dir }
    }

    /// An instant PromQL query over the HTTP API: each series' `client` label and value;
    /// None while Prometheus is not answering yet.
    pub fn query(&self, q: &str) -> Option<Vec<(String, String)>> {
        TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let r = get(
            self.port,
            &format!("/api/v1/query?query={}", encode(q)),
            &[],
        );
        let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        (v["status"] == "success").then_some(())?;
        Some(
            v["data"]["result"]
                .as_array()?
                .iter()
                .map(|s| {
                    (
                        s["metric"]["client"].as_str().unwrap_or("").to_owned(),
                        s["value"][1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect(),
        )
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("prometheus.log"));
            eprintln!("--- prometheus log ---\n{}", log.unwrap_or_default());
        }
    }
}
