//! Hostile payloads and names through a real broker: every row accounted for, nothing raw
//! on the terminal, JSON that always parses, no panic.

mod common;

use common::*;

fn hostile_fleet() -> Vec<(String, Vec<u8>)> {
    let t = |n: &str| format!("sensors/connected/{n}");
    let mut garbage = Vec::with_capacity(256);
    let mut x: u32 = 0x1234_5678;
    for _ in 0..256 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push(x.to_le_bytes()[0]);
    }
    vec![
        (t("utf8-bad"), vec![0xff, 0xfe, b'o', b'n', 0xc3]),
        (t("binary"), garbage),
        (t("huge"), vec![b'x'; 1 << 20]),
        (t("status-64k"), {
            let mut v = br#"{"status":"online","pad":""#.to_vec();
            v.extend(std::iter::repeat_n(b'p', 64 * 1024));
            v.extend(br#""}"#);
            v
        }),
        (
            t("nested"),
            format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)).into_bytes(),
        ),
        (
            t("nested-obj"),
            format!("{}1{}", "{\"status\":".repeat(5_000), "}".repeat(5_000)).into_bytes(),
        ),
        (t("json-array"), b"[1,2,3]".to_vec()),
        (t("json-string"), b"\"offline\"".to_vec()),
        (t("json-number"), b"42".to_vec()),
        // mosquitto drops a client that sends control characters in a topic (its UTF-8
        // check), so names with ESC cannot pass through it; the core tests cover them.
        (t("esc-payload"), b"\x1b[2J\x1b]0;pwned\x07evil".to_vec()),
        (t("bidi\u{202e}gnp.exe"), b"\x1b[31m0\x1b[0m".to_vec()),
        (
            t("isolate\u{2066}x\u{2069}"),
            "\u{9b}31m\u{2067}".as_bytes().to_vec(),
        ),
        (t("nl"), b"online\nFAKE-ROW online".to_vec()),
        (t("nul"), b"on\0line".to_vec()),
    ]
}

const NAMES: usize = 14;

fn assert_no_raw_controls(text: &str, what: &str) {
    for (i, c) in text.chars().enumerate() {
        let n = u32::from(c);
        let bad = (n < 0x20 && c != '\n')
            || (0x7f..=0x9f).contains(&n)
            || (0x202a..=0x202e).contains(&n)
            || (0x2066..=0x2069).contains(&n);
        assert!(!bad, "{what}: raw control U+{n:04X} at char {i}");
    }
}

#[test]
fn hostile_payloads_and_names_become_rows_without_harm() {
    let m = Mosquitto::start();
    publish_raw(m.port, hostile_fleet());

    let doc = list_json(&m.url(), &[]);
    assert_eq!(doc["summary"]["total"], NAMES, "every message is a row");
    let state = |n: &str| {
        client(&doc, n).unwrap_or_else(|| panic!("no row {n}"))["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for unknown in [
        "esc-payload",
        "utf8-bad",
        "binary",
        "huge",
        "nested",
        "nested-obj",
        "json-array",
        "json-number",
        "nl",
        "nul",
    ] {
        assert_eq!(state(unknown), "unknown", "{unknown}");
    }
    assert_eq!(
        state("status-64k"),
        "online",
        "a 64 KiB status is read, not dropped"
    );
    assert_eq!(state("json-string"), "offline");
    assert_eq!(state("esc-payload"), "unknown");
    assert_eq!(
        client(&doc, "huge").unwrap()["payload"]
            .as_str()
            .unwrap()
            .len(),
        1 << 20,
        "the payload is kept"
    );

    let table = scan(&m.url(), &["list", "--color", "never"]);
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout.clone()).expect("table output is UTF-8");
    assert_no_raw_controls(&text, "table");
    assert!(text.contains("\\x1b[2J\\x1b]0;pwn"), "{text}");
    assert!(text.contains("bidi\\u{202e}gnp.exe"));
    assert_eq!(
        text.lines().count(),
        NAMES + 2,
        "header, one line per row, summary"
    );

    let csv = scan(&m.url(), &["list", "--format", "csv"]);
    let text = String::from_utf8(csv.stdout).unwrap();
    assert_no_raw_controls(&text, "csv");
    assert_eq!(text.lines().count(), NAMES + 1);

    let jsonl = scan(&m.url(), &["list", "--format", "jsonl"]);
    let text = String::from_utf8(jsonl.stdout).unwrap();
    assert_no_raw_controls(&text, "jsonl");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each jsonl line parses");
    }
    assert_eq!(text.lines().count(), NAMES);
}

/// xorshift64*: a seeded generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

/// Characters mosquitto lets through in a topic (it drops a client that sends C0, DEL, C1
/// or non-characters there), hostile ones included: bidi overrides and isolates, zero
/// widths, combining marks, wide and astral characters, quotes, backslashes.
const TOPIC_CHARS: &[char] = &[
    'a',
    'Z',
    '7',
    '-',
    '_',
    '.',
    ' ',
    '"',
    '\'',
    '\\',
    '%',
    '{',
    '}',
    '[',
    ',',
    ':',
    '<',
    '&',
    '\u{202e}',
    '\u{202a}',
    '\u{2066}',
    '\u{2067}',
    '\u{2069}',
    '\u{200b}',
    '\u{200d}',
    '\u{feff}',
    '\u{0301}',
    '\u{0410}',
    '\u{4e2d}',
    '\u{1f600}',
    '\u{10fffd}',
    '\u{a0}',
    '\u{2028}',
    '\u{2029}',
    '\u{fffd}',
];

fn random_name(rng: &mut Rng, i: usize) -> String {
    let word = |rng: &mut Rng, len: usize| -> String {
        (0..len).map(|_| *rng.pick(TOPIC_CHARS)).collect()
    };
    let base = match rng.below(100) {
        // 100 levels deep.
        0..=1 => (0..100).map(|_| word(rng, 2)).collect::<Vec<_>>().join("/"),
        // Very long: up to 16 KiB of characters.
        2 => {
            let len = 1_000 + rng.below(4_000);
            word(rng, len)
        }
        // Empty levels inside.
        3..=4 => format!("{}//{}", word(rng, 3), word(rng, 3)),
        _ => {
            let len = 1 + rng.below(12);
            word(rng, len)
        }
    };
    // Unique (and never empty): every row must be accounted for by name.
    format!("{base}#{i}").replace('#', "~")
}

fn random_payload(rng: &mut Rng) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "1", "0", "2", "online", "OFFLINE", " Online ", "true", "false", "lost", "dead", "up",
        "down", "sleeping", "alert", "init", "ready", "",
    ];
    const HOSTILE: &[&[u8]] = &[
        b"\x1b[2J\x1b[H",
        b"\x1b]0;pwned\x07",
        b"\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",
        b"\x9b31m",
        b"\xc2\x9b31m",
        b"\0",
        b"\r\n",
        b"\x7f",
        b"\xe2\x80\xae",
        b"\xff\xfe",
        b"\xed\xa0\x80",
        b"\"\\",
    ];
    match rng.below(1000) {
        0..=299 => rng.pick(WORDS).as_bytes().to_vec(),
        300..=499 => {
            let n = rng.below(300);
            rng.bytes(n)
        }
        500..=699 => {
            let mut v = Vec::new();
            for _ in 0..=rng.below(6) {
                if rng.below(2) == 0 {
                    let bytes: &[u8] = rng.pick::<&[u8]>(HOSTILE);
                    v.extend_from_slice(bytes);
                } else {
                    v.extend_from_slice(rng.pick(WORDS).as_bytes());
                }
            }
            v
        }
        700..=899 => {
            let key = *rng.pick(&["status", "state", "connected", "online", "value", "x"]);
            let bytes: &[u8] = rng.pick::<&[u8]>(HOSTILE);
            let hostile = String::from_utf8_lossy(bytes).into_owned();
            let value = match rng.below(6) {
                0 => serde_json::json!(rng.pick(WORDS)),
                1 => serde_json::json!(rng.below(3)),
                2 => serde_json::json!(rng.below(2) == 0),
                3 => serde_json::json!(hostile),
                4 => serde_json::json!(1e300),
                _ => serde_json::json!(null),
            };
            let ts = rng
                .pick(&[
                    serde_json::json!(1_700_000_000),
                    serde_json::json!(-1),
                    serde_json::json!(u64::MAX),
                    serde_json::json!("9999-99-99T99:99:99Z"),
                    serde_json::json!(hostile.clone()),
                ])
                .clone();
            serde_json::to_vec(&serde_json::json!({
                key: value, "ts": ts, "ip": hostile, "client": hostile,
            }))
            .unwrap()
        }
        900..=997 => {
            let depth = rng.below(3_000);
            format!("{}{}", "[".repeat(depth), "]".repeat(rng.below(depth + 1))).into_bytes()
        }
        // 256 KiB.
        _ => {
            let mut v = rng.bytes(256 * 1024);
            v[0] = b'{';
            v
        }
    }
}

/// `n` random messages under the default status topic; about one in ten repeats an earlier
/// topic (the last payload wins), and the empty payloads among them clear their row.
fn random_fleet(seed: u64, n: usize) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(seed);
    let mut topics: Vec<String> = Vec::with_capacity(n);
    (0..n)
        .map(|i| {
            let topic = if i > 0 && rng.below(10) == 0 {
                topics[rng.below(topics.len())].clone()
            } else {
                let t = format!("sensors/connected/{}", random_name(&mut rng, i));
                topics.push(t.clone());
                t
            };
            (topic, random_payload(&mut rng))
        })
        .collect()
}

/// The names that must have a row: the last payload of each topic is not empty.
fn expected_names(fleet: &[(String, Vec<u8>)]) -> std::collections::BTreeSet<String> {
    let mut last = std::collections::HashMap::new();
    for (topic, payload) in fleet {
        last.insert(topic.as_str(), payload.is_empty());
    }
    last.into_iter()
        .filter(|(_, empty)| !empty)
        .map(|(t, _)| t.strip_prefix("sensors/connected/").unwrap().to_owned())
        .collect()
}

fn check_list_outputs(url: &str) {
    let table = scan(url, &["list", "--color", "always"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8(table.stdout).expect("table output is UTF-8");
    let summary = text.lines().last().unwrap_or_default().to_owned();
    let total: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert_no_raw_controls(&text.replace('\x1b', ""), "table");
    assert!(
        !text.contains("\x1b]") && !text.contains("\x1b[2J"),
        "only colour sequences of our own"
    );
    let rows = if total == 0 { 1 } else { total + 2 };
    assert_eq!(text.lines().count(), rows, "one line per row");
    // A 16 KiB name must not widen every row: long names and topics are shortened.
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest < 400, "a table row {widest} characters wide");
    for format in ["jsonl", "csv"] {
        let out = scan(url, &["list", "--format", format]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        assert_no_raw_controls(&text, format);
        if format == "jsonl" {
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line).expect("each jsonl line parses");
            }
        }
    }
}

/// The ids the watchers use, so the broker's log tells when they are subscribed.
fn wait_subscribed(m: &Mosquitto, id: &str) {
    // The probe is published once the status subscription is acknowledged.
    wait_for(
        &format!("{id} to subscribe"),
        std::time::Duration::from_secs(10),
        || {
            m.log_text()
                .contains(&format!("Received PUBLISH from {id} "))
                .then_some(())
        },
    );
}

fn final_states(events: &[serde_json::Value]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for e in events.iter().filter(|e| e["event"] == "change") {
        let name = e["name"].as_str().unwrap().to_owned();
        match e["to"].as_str().unwrap() {
            "removed" => out.remove(&name),
            to => out.insert(name, to.to_owned()),
        };
    }
    out
}

#[test]
fn ten_thousand_random_statuses_published_while_list_and_watch_run() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let m = Mosquitto::start();
    let url = m.url();
    let jsonl = Watch::start(&url, &["--client-id", "hostile-jsonl"]);
    let text = Watch::start_format(&url, "text", &["--client-id", "hostile-text"]);
    wait_subscribed(&m, "hostile-jsonl");
    wait_subscribed(&m, "hostile-text");

    // `list` in every format, over and over, while the messages arrive.
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let background = {
        let (done, url) = (done.clone(), url.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !done.load(Ordering::SeqCst) {
                check_list_outputs(&url);
                runs += 1;
            }
            runs
        })
    };
    let started = std::time::Instant::now();
    let mut fleet = hostile_fleet();
    fleet.extend(random_fleet(0x5eed_0009, 10_000));
    let expected = expected_names(&fleet);
    publish_raw(m.port, fleet);
    eprintln!(
        "published 10,014 hostile messages in {:?}",
        started.elapsed()
    );
    done.store(true, Ordering::SeqCst);
    let runs = background
        .join()
        .expect("list held up while the messages arrived");
    assert!(runs >= 1);
    eprintln!("{runs} list rounds, done at {:?}", started.elapsed());

    // Every row accounted for, in list and in both watchers.
    let listed = list_states(&url);
    assert_eq!(
        listed
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        expected,
        "one row per topic whose last status is not empty"
    );
    check_list_outputs(&url);
    eprintln!("listed at {:?}", started.elapsed());
    wait_for(
        "the jsonl watcher to hold the same table",
        std::time::Duration::from_secs(20),
        || (final_states(&jsonl.events()) == listed).then_some(()),
    );
    eprintln!(
        "the watchers agreed {:?} after the start",
        started.elapsed()
    );
    let changes = jsonl
        .events()
        .iter()
        .filter(|e| e["event"] == "change")
        .count();
    wait_for(
        "the text watcher to print as many changes",
        std::time::Duration::from_secs(20),
        || (text.lines().len() == changes).then_some(()),
    );
    for line in text.lines() {
        assert_no_raw_controls(&line, "watch text");
        assert!(
            line.ends_with("(retained=false)")
                || line.ends_with("(retained=true)")
                || line.ends_with("(status cleared)"),
            "one event per line: {line}"
        );
    }
    assert!(jsonl.errors().is_empty(), "{:?}", jsonl.errors());
    assert!(text.errors().is_empty(), "{:?}", text.errors());
}
