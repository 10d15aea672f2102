//! The broker matrix: every command against each broker people run, each a real server on
//! a free loopback port (tests/common/brokers.rs): mosquitto, aedes, amqtt, RabbitMQ,
//! rumqttd and rmqtt. A broker that is not installed is skipped locally (one line says how
//! to install it) and fails the run under `CI=true`.
//!
//! RabbitMQ never delivers retained messages to a subscription with a wildcard ("RabbitMQ
//! does not send retained messages for Topic Filters containing wildcards", its MQTT plugin's
//! documentation): the cases that need the retained snapshot under `sensors/connected/#`
//! (list, check, prune, the empty broker) cannot pass there; instead its module tests that
//! list, check and watch detect it and say so (check `--expect` looks the names up on their
//! exact topics), and what works on exact topics and live (watch, the Will, announce).
//!
//! Each test prints `timing:` lines (shown with `--nocapture`): the figures for the README's
//! broker table.

mod common;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::brokers::{Broker, Kind};
use common::*;

/// `mqtt-scan ARGS -b URL` with this test's topics.
fn run(b: &Broker, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
    if !args.contains(&"-t") {
        all.extend(b.topic_args());
    }
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    scan(&b.url(), &all)
}

/// `list --json` with this test's topics; the document and how long it took.
fn list(b: &Broker, extra: &[&str]) -> (serde_json::Value, Duration) {
    let mut args = vec!["list", "--json"];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = run(b, &args);
    (list_doc(&out), started.elapsed())
}

fn expect_states(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|&(n, s)| (n.to_owned(), s.to_owned()))
        .collect()
}

/// The state of `name` as `list` on its exact topic sees it (the one way RabbitMQ delivers
/// a retained status).
fn exact_state(b: &Broker, name: &str) -> Option<(String, serde_json::Value)> {
    let topic = b.topic(name);
    let (doc, _) = list(b, &["-t", &topic]);
    // With an exact topic for a pattern, the row's name is the whole topic.
    client(&doc, &topic).map(|c| (c["state"].as_str().unwrap().to_owned(), c.clone()))
}

fn wait_exact_state(b: &Broker, name: &str, want: &str) -> serde_json::Value {
    wait_for(
        &format!("{name} {want} on {}", b.kind.name()),
        Duration::from_secs(30),
        || exact_state(b, name).and_then(|(s, row)| (s == want).then_some(row)),
    )
}

fn timing(b: &Broker, what: &str, took: Duration) {
    eprintln!("timing: {} {what}: {took:.2?}", b.kind.name());
}

/// A watcher on this test's topics that is known to be subscribed: a marker status is
/// published until the watcher reports it (from the snapshot, or live where the snapshot
/// cannot carry it).
fn ready_watch(b: &Broker, extra: &[&str]) -> Watch {
    let mut args: Vec<String> = b.topic_args();
    args.extend(extra.iter().map(|&a| a.to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let w = Watch::start(&b.url(), &args);
    let marker = "watch-marker";
    wait_for(
        &format!("the watcher on {} to see the marker", b.kind.name()),
        Duration::from_secs(30),
        || {
            b.retain(marker, "1");
            let seen = wait_briefly(|| {
                w.events()
                    .iter()
                    .any(|e| is_change(e, marker, "online"))
                    .then_some(())
            });
            seen
        },
    );
    w
}

/// A libmosquitto client (`mosquitto_sub`) with a retained QoS 1 Will `0` on `name`'s status
/// topic, returned once it is connected and subscribed (a message on its command topic has
/// come back through it).
fn will_client(b: &Broker, name: &str) -> Child {
    let cmd_topic = format!("{}cmd/{name}", b.prefix);
    let mut child = Command::new("mosquitto_sub")
        .args(["-h", b.host(), "-p", &b.port.to_string()])
        .args(["-i", &format!("will-{name}-{}", std::process::id())])
        .args(["-t", &cmd_topic, "-k", "60"])
        .args(["--will-topic", &b.topic(name), "--will-payload", "0"])
        .args(["--will-retain", "--will-qos", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let got = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = got.clone();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    wait_for(
        &format!("the Will client on {} to subscribe", b.kind.name()),
        Duration::from_secs(30),
        || {
            b.pub_cmd(&["-t", &cmd_topic, "-m", "hello"]);
            wait_briefly(|| {
                got.lock()
                    .unwrap()
                    .iter()
                    .any(|l| l == "hello")
                    .then_some(())
            })
        },
    );
    child
}

/// `mqtt-scan announce NAME` on this test's topics.
fn announce(b: &Broker, url: &str, name: &str, extra: &[&str]) -> Child {
    let template = format!("{}sensors/connected/{{name}}", b.prefix);
    Command::new(BIN)
        .args(["announce", name, "-b", url, "--topic-template", &template])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn sigterm(child: &Child) {
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

mod cases {
    use super::*;

    /// Five retained statuses (QoS 1) of every kind the default vocabulary knows.
    pub fn five_retained_statuses_list_exactly_and_completely(b: &Broker) {
        let fleet = [
            ("dev1", "1", "online"),
            ("dev2", "0", "offline"),
            ("dev3", "online", "online"),
            ("dev4", "offline", "offline"),
            ("dev5", r#"{"status":1,"ip":"10.0.0.5"}"#, "online"),
        ];
        for (name, payload, _) in fleet {
            b.retain(name, payload);
        }
        let want: Vec<(&str, &str)> = fleet.iter().map(|&(n, _, s)| (n, s)).collect();
        let (doc, took) = list(b, &[]);
        timing(b, "list of 5", took);
        assert_eq!(doc["complete"], true, "{doc}");
        assert_eq!(states(&doc), expect_states(&want));
        assert_eq!(doc["summary"]["total"], 5);
        let dev5 = client(&doc, "dev5").unwrap();
        assert_eq!(
            (&dev5["ip"], &dev5["retained"]),
            (&"10.0.0.5".into(), &true.into())
        );
        // The same broker, the same statuses, as mosquitto_sub sees them.
        let started = Instant::now();
        let out = Command::new("mosquitto_sub")
            .args(["-h", b.host(), "-p", &b.port.to_string()])
            .args(["-t", "sensors/connected/#", "-C", "5", "-W", "30"])
            .output()
            .unwrap();
        timing(b, "mosquitto_sub -C 5", started.elapsed());
        assert_eq!(stdout(&out).lines().count(), 5);
    }

    /// 10,000 retained statuses (QoS 1): every one listed, the snapshot complete.
    pub fn ten_thousand_retained_statuses_list_exactly_and_completely(b: &Broker) {
        let n = 10_000;
        let started = Instant::now();
        let offline = seed(b.port, n, 7);
        timing(b, "seeding 10,000 at QoS 1", started.elapsed());
        let (doc, took) = list(b, &["--wait", "60s"]);
        timing(b, "list of 10,000", took);
        assert_eq!(doc["complete"], true);
        assert_eq!(doc["summary"]["total"], n);
        assert_eq!(doc["summary"]["offline"], offline);
        assert_eq!(doc["clients"].as_array().unwrap().len(), n);
        let started = Instant::now();
        let out = Command::new("mosquitto_sub")
            .args(["-h", b.host(), "-p", &b.port.to_string()])
            .args([
                "-t",
                "sensors/connected/#",
                "-C",
                &n.to_string(),
                "-W",
                "60",
            ])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        timing(b, "mosquitto_sub -C 10000", started.elapsed());
        assert_eq!(stdout(&out).lines().count(), n);
    }

    pub fn an_empty_broker_lists_no_client_and_a_complete_snapshot(b: &Broker) {
        let (doc, took) = list(b, &[]);
        timing(b, "list of 0", took);
        assert_eq!(doc["complete"], true);
        assert_eq!(doc["summary"]["total"], 0);
        let out = run(b, &["list"]);
        assert_eq!(stdout(&out), "0 clients: 0 online, 0 offline, 0 unknown\n");
    }

    /// A real client (libmosquitto) with a retained Will, killed with SIGKILL: the broker
    /// publishes the Will, the watcher sees the change live, the status is offline.
    pub fn a_will_fires_after_kill_9_and_watch_sees_it(b: &Broker) {
        let w = ready_watch(b, &[]);
        b.retain("crasher", "1");
        w.wait_event("crasher online", |e| is_change(e, "crasher", "online"));
        let mut device = will_client(b, "crasher");
        let killed = Instant::now();
        device.kill().unwrap();
        device.wait().unwrap();
        let event = w.wait_event("the Will's offline event", |e| {
            is_change(e, "crasher", "offline")
        });
        timing(b, "Will seen by watch after kill -9", killed.elapsed());
        assert_eq!(event["payload"], "0");
        assert_eq!(event["topic"], b.topic("crasher"));
        // The Will was retained: a fresh look says offline too.
        let row = wait_exact_state(b, "crasher", "offline");
        assert_eq!(row["payload"], "0");
    }

    pub fn check_judges_expected_clients(b: &Broker) {
        b.retain("sensor1", "1");
        b.retain("sensor2", "0");
        b.retain("sensor3", "online");
        let check = |args: &[&str]| {
            let mut all = vec!["check"];
            all.extend_from_slice(args);
            run(b, &all)
        };
        let ok = check(&["--expect", "sensor1", "--expect", "sensor3"]);
        assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
        assert!(
            stdout(&ok).starts_with("MQTT-SCAN OK - 0/2 expected offline"),
            "{}",
            stdout(&ok)
        );
        let warn = check(&[
            "--expect", "sensor1", "--expect", "sensor2", "--expect", "ghost",
        ]);
        assert_eq!(warn.status.code(), Some(1), "{}", stdout(&warn));
        assert!(
            stdout(&warn)
                .starts_with("MQTT-SCAN WARNING - 2/3 expected offline: sensor2, ghost (missing)"),
            "{}",
            stdout(&warn)
        );
        let crit = check(&["--min-online", "3"]);
        assert_eq!(crit.status.code(), Some(2), "{}", stdout(&crit));
    }

    /// `announce`: online while it runs; SIGTERM publishes offline (acknowledged), sends
    /// DISCONNECT and exits 0 at once, whether or not the broker closes the connection.
    pub fn announce_is_online_then_offline_after_sigterm(b: &Broker, url: &str, extra: &[&str]) {
        let mut a = announce(b, url, "announcer", extra);
        let online = wait_exact_state(b, "announcer", "online");
        assert_eq!(online["payload"], "1");
        let stopped = Instant::now();
        sigterm(&a);
        let status = wait_for("announce to exit", Duration::from_secs(10), || {
            a.try_wait().unwrap()
        });
        let took = stopped.elapsed();
        timing(b, "announce exit after SIGTERM", took);
        let mut err = String::new();
        std::io::Read::read_to_string(a.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(0), "{err}");
        assert!(
            took < Duration::from_millis(500),
            "announce took {took:?} to exit on {}",
            b.kind.name()
        );
        let row = wait_exact_state(b, "announcer", "offline");
        assert_eq!(
            (&row["payload"], &row["retained"]),
            (&"0".into(), &true.into())
        );
    }

    pub fn prune_clears_offline_statuses_only(b: &Broker) {
        b.retain("on1", "1");
        b.retain("off1", "0");
        b.retain("off2", "offline");
        let out = run(b, &["prune", "--yes"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            "sensors/connected/off1\nsensors/connected/off2\n"
        );
        let (doc, _) = wait_for(
            "the cleared statuses to go",
            Duration::from_secs(10),
            || {
                let (doc, took) = list(b, &[]);
                (doc["summary"]["total"] == 1).then_some((doc, took))
            },
        );
        assert_eq!(states(&doc), expect_states(&[("on1", "online")]));
    }

    /// Over MQTT 5: the same table as over 3.1.1, and announce's Will and offline status.
    pub fn mqtt5_lists_the_same_table_and_announces(b: &Broker) {
        let v5 = b.v5_url().unwrap();
        b.retain("v5a", "1");
        b.retain("v5b", "0");
        let (v3doc, _) = list(b, &[]);
        let out = scan(&v5, &["list", "--json", "--mqtt-version", "5"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v5doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v5doc["complete"], true);
        assert_eq!(states(&v5doc), states(&v3doc));
        assert_eq!(
            states(&v5doc),
            expect_states(&[("v5a", "online"), ("v5b", "offline")])
        );
        announce_is_online_then_offline_after_sigterm(b, &v5, &["--mqtt-version", "5"]);
    }

    /// A broker without MQTT 5: one `mqtt-scan: ` line and exit 1, not a hang.
    pub fn mqtt5_is_refused_with_one_error_line(b: &Broker) {
        let started = Instant::now();
        let out = run(
            b,
            &["list", "--mqtt-version", "5", "--connect-timeout", "10s"],
        );
        let took = started.elapsed();
        timing(b, "list --mqtt-version 5 refused", took);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(
            err.trim_end(),
            format!(
                "mqtt-scan: 127.0.0.1:{} does not speak MQTT 5 (it answers MQTT 3.1.1): use --mqtt-version 3.1.1",
                b.port
            )
        );
        // amqtt leaves the CONNECT unanswered: a look after a second, not --connect-timeout.
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    /// Retained messages a broker sends for other clients' filters never become rows.
    /// amqtt 0.12.1 sends every new connection, right after its CONNACK and before it
    /// subscribes, the retained messages matching any filter in its broker-wide table (its
    /// `_handle_client_session` loops over `self._subscriptions` "to publish any topic
    /// retained messages" of "a pre-existing session"), and a clean session that left stays in
    /// that table until the session monitor's next pass: the next client gets them too.
    pub fn retained_messages_for_other_clients_filters_never_become_rows(b: &Broker) {
        let p = &b.prefix;
        b.retain("s1", "1");
        b.retain("deep/x", "1");
        b.pub_cmd(&["-r", "-q", "1", "-t", &format!("{p}other/o1"), "-m", "1"]);
        b.pub_cmd(&[
            "-r",
            "-q",
            "1",
            "-t",
            &format!("{p}sensors/elsewhere"),
            "-m",
            "1",
        ]);
        // One client that stays subscribed to everything, one that came and went.
        let mut stays = Command::new("mosquitto_sub")
            .args(["-h", b.host(), "-p", &b.port.to_string()])
            .args(["-t", &format!("{p}other/#"), "-t", &format!("{p}sensors/#")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let left = Command::new("mosquitto_sub")
            .args(["-h", b.host(), "-p", &b.port.to_string()])
            .args([
                "-t",
                &format!("{p}sensors/connected/deep/#"),
                "-C",
                "1",
                "-W",
                "10",
            ])
            .output()
            .unwrap();
        assert_eq!(stdout(&left), "1\n");
        let filter = format!("{p}sensors/connected/+");
        // What a plain subscriber to the same filter gets here (strays included).
        let raw = Command::new("mosquitto_sub")
            .args(["-h", b.host(), "-p", &b.port.to_string()])
            .args(["-t", &filter, "-F", "%t", "-W", "1"])
            .output()
            .unwrap();
        let outside = stdout(&raw)
            .lines()
            .filter(|t| !t.starts_with(&format!("{p}sensors/connected/s")))
            .count();
        eprintln!(
            "strays: {} sent {outside} messages outside {filter} to mosquitto_sub",
            b.kind.name()
        );
        for _ in 0..3 {
            let (doc, _) = list(b, &["-t", &filter]);
            assert_eq!(doc["complete"], true);
            assert_eq!(states(&doc), expect_states(&[("s1", "online")]), "{doc}");
        }
        let w = ready_watch(b, &["-t", &filter]);
        b.retain("s2", "0");
        w.wait_event("s2 live", |e| is_change(e, "s2", "offline"));
        let names: std::collections::BTreeSet<String> = w
            .events()
            .iter()
            .filter_map(|e| e["name"].as_str().map(ToOwned::to_owned))
            .collect();
        assert_eq!(
            names,
            ["s1", "s2", "watch-marker"].map(String::from).into(),
            "{:?}",
            w.events()
        );
        let _ = stays.kill();
        let _ = stays.wait();
    }

    /// Probes (ours and other scanners') never become rows, even with `-t '#'`.
    pub fn probes_never_become_rows(b: &Broker) {
        b.retain("p1", "1");
        b.retain("p2", "0");
        let w = Watch::start(&b.url(), &["-t", "#"]);
        for _ in 0..3 {
            let (doc, _) = list(b, &["-t", "#"]);
            for c in doc["clients"].as_array().unwrap() {
                assert!(
                    !c["topic"].as_str().unwrap().starts_with("mqtt-scan/probe/"),
                    "a probe became a row: {c}"
                );
            }
            if b.prefix.is_empty() {
                assert_eq!(
                    states(&doc),
                    expect_states(&[
                        ("sensors/connected/p1", "online"),
                        ("sensors/connected/p2", "offline")
                    ])
                );
            }
        }
        // The watcher saw the lists' probes go by live: none is a row.
        b.retain("p3", "1");
        w.wait_event("p3 live", |e| {
            e["event"] == "change" && e["topic"] == b.topic("p3")
        });
        for e in w.events() {
            assert!(
                !e["topic"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("mqtt-scan/probe/"),
                "a probe became a row: {e}"
            );
        }
    }
}

/// One module per broker, one test per case.
macro_rules! matrix {
    ($module:ident, $kind:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn five_retained_statuses_list_exactly_and_completely() {
                cases::five_retained_statuses_list_exactly_and_completely(&broker_or_skip!($kind));
            }

            #[test]
            fn ten_thousand_retained_statuses_list_exactly_and_completely() {
                cases::ten_thousand_retained_statuses_list_exactly_and_completely(
                    &broker_or_skip!($kind),
                );
            }

            #[test]
            fn an_empty_broker_lists_no_client_and_a_complete_snapshot() {
                cases::an_empty_broker_lists_no_client_and_a_complete_snapshot(&broker_or_skip!(
                    $kind
                ));
            }

            #[test]
            fn a_will_fires_after_kill_9_and_watch_sees_it() {
                cases::a_will_fires_after_kill_9_and_watch_sees_it(&broker_or_skip!($kind));
            }

            #[test]
            fn check_judges_expected_clients() {
                cases::check_judges_expected_clients(&broker_or_skip!($kind));
            }

            #[test]
            fn announce_is_online_then_offline_after_sigterm() {
                let b = broker_or_skip!($kind);
                cases::announce_is_online_then_offline_after_sigterm(&b, &b.url(), &[]);
            }

            #[test]
            fn prune_clears_offline_statuses_only() {
                cases::prune_clears_offline_statuses_only(&broker_or_skip!($kind));
            }

            #[test]
            fn mqtt5() {
                let b = broker_or_skip!($kind);
                if b.kind.speaks_v5() {
                    cases::mqtt5_lists_the_same_table_and_announces(&b);
                } else {
                    cases::mqtt5_is_refused_with_one_error_line(&b);
                }
            }

            #[test]
            fn probes_never_become_rows() {
                cases::probes_never_become_rows(&broker_or_skip!($kind));
            }

            #[test]
            fn retained_messages_for_other_clients_filters_never_become_rows() {
                cases::retained_messages_for_other_clients_filters_never_become_rows(
                    &broker_or_skip!($kind),
                );
            }
        }
    };
}

matrix!(mosquitto, Kind::Mosquitto);
matrix!(aedes, Kind::Aedes);
matrix!(amqtt, Kind::Amqtt);
matrix!(rumqttd, Kind::Rumqttd);
matrix!(rmqtt, Kind::Rmqtt);

/// RabbitMQ: what does not need a retained message on a wildcard subscription (see the top
/// of this file).
mod rabbitmq {
    use super::*;

    #[test]
    fn a_will_fires_after_kill_9_and_watch_sees_it() {
        cases::a_will_fires_after_kill_9_and_watch_sees_it(&broker_or_skip!(Kind::RabbitMq));
    }

    #[test]
    fn announce_is_online_then_offline_after_sigterm() {
        let b = broker_or_skip!(Kind::RabbitMq);
        cases::announce_is_online_then_offline_after_sigterm(&b, &b.url(), &[]);
    }

    #[test]
    fn mqtt5_is_refused_with_one_error_line() {
        cases::mqtt5_is_refused_with_one_error_line(&broker_or_skip!(Kind::RabbitMq));
    }

    const BLIND: &str =
        "does not deliver retained messages to wildcard subscriptions (RabbitMQ does not)";

    #[test]
    fn list_says_the_retained_statuses_cannot_be_listed_instead_of_an_empty_complete_fleet() {
        let b = broker_or_skip!(Kind::RabbitMq);
        b.retain("s1", "1");
        b.retain("s2", "0");
        wait_exact_state(&b, "s2", "offline");
        let out = run(&b, &["list", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.starts_with("mqtt-scan: warning: 127.0.0.1:"), "{err}");
        assert!(err.contains(BLIND), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["complete"], false, "{doc}");
        assert_eq!(doc["summary"]["total"], 0, "{doc}");
    }

    #[test]
    fn check_looks_expected_clients_up_on_their_exact_topics() {
        let b = broker_or_skip!(Kind::RabbitMq);
        b.retain("c1", "1");
        b.retain("c2", "0");
        wait_exact_state(&b, "c2", "offline");
        let out = run(
            &b,
            &[
                "check", "--expect", "c1", "--expect", "c2", "--expect", "c3",
            ],
        );
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
        assert!(
            text.starts_with("MQTT-SCAN WARNING - 2/3 expected offline: c2, c3 (missing)"),
            "{text}"
        );
        assert!(text.contains("\nc1: online"), "{text}");
        // Without names there is nothing to look up: UNKNOWN, with the reason.
        let out = run(&b, &["check"]);
        assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
        assert!(stdout(&out).starts_with("MQTT-SCAN UNKNOWN - 127.0.0.1:"));
        assert!(stdout(&out).contains(BLIND), "{}", stdout(&out));
    }

    #[test]
    fn watch_warns_that_only_changes_show() {
        let b = broker_or_skip!(Kind::RabbitMq);
        b.retain("w1", "1");
        let args = b.topic_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let w = Watch::start(&b.url(), &args);
        wait_for("the warning", Duration::from_secs(30), || {
            w.errors().iter().any(|l| l.contains(BLIND)).then_some(())
        });
        // And a live change still shows.
        b.retain("w1", "0");
        wait_for("w1 offline, live", Duration::from_secs(30), || {
            w.events()
                .iter()
                .any(|e| is_change(e, "w1", "offline"))
                .then_some(())
        });
    }

    #[test]
    fn probes_never_become_rows() {
        cases::probes_never_become_rows(&broker_or_skip!(Kind::RabbitMq));
    }
}
