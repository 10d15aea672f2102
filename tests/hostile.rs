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
