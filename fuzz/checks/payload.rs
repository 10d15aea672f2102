//! Arbitrary bytes as a status payload (default and extended vocabulary) and as a Sparkplug B
//! certificate. Checks more than "no panic": parsing is deterministic and idempotent (the
//! kept payload parses to the same result), every text it exposes is terminal-safe once
//! escaped, a detail stays one short word, a timestamp is writable as RFC 3339, and a decoded
//! certificate survives a round trip.

use std::sync::OnceLock;

use mqtt_scan::status::escape::is_unsafe;
use mqtt_scan::status::payload::{self, Parsed};
use mqtt_scan::status::{escape, sparkplug, Detail, Payload, State, Vocabulary};

fn vocabularies() -> &'static [Vocabulary; 2] {
    static V: OnceLock<[Vocabulary; 2]> = OnceLock::new();
    V.get_or_init(|| {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        [
            Vocabulary::default(),
            Vocabulary::new(
                &words(&["Alive", " awake ", "", "ÄRGER", "\u{1f600}"]),
                &words(&["2", "gone", " ZZZ ", "ǅ", "\t"]),
            ),
        ]
    })
}

fn assert_safe(what: &str, text: &str) {
    let shown = escape(text);
    assert!(
        !shown.chars().any(is_unsafe),
        "{what} is not terminal-safe after escape: {shown:?}"
    );
}

/// 9999-12-31T23:59:59.999Z: later times cannot be written as RFC 3339.
const MAX_MILLIS: i64 = 253_402_300_799_999;

fn check(bytes: &[u8], vocab: &Vocabulary) {
    let parsed = payload::parse(bytes, vocab);
    assert_eq!(
        parsed,
        payload::parse(bytes, vocab),
        "parse is not deterministic"
    );

    // The kept payload reads the same when parsed again (lossy UTF-8 and JSON re-encoding
    // lose nothing the parser looks at).
    let text = parsed.payload.to_text();
    let again = payload::parse(text.as_bytes(), vocab);
    assert_eq!(
        parsed, again,
        "re-parsing the kept payload {text:?} differs"
    );

    assert_safe("payload", &text);
    if let Some(d) = parsed.detail.text(&parsed.payload) {
        assert_safe("detail", &d);
        // A detail is a word: the first 64 bytes of it, plus an ellipsis.
        if matches!(parsed.detail, Detail::Word) || d.len() > 64 {
            assert!(
                d.len() <= 64 + '…'.len_utf8(),
                "detail too long: {}",
                d.len()
            );
        }
    }
    if let Some(v) = parsed.detail.value(&parsed.payload) {
        assert!(serde_json::to_string(&v).is_ok());
    }
    for (what, t) in [("ip", &parsed.ip), ("reported name", &parsed.reported_name)] {
        if let Some(t) = t {
            assert_safe(what, t);
        }
    }
    if let Some(ts) = parsed.ts {
        let ms = ts.timestamp_millis();
        assert!(
            (0..=MAX_MILLIS).contains(&ms),
            "timestamp out of range: {ts:?}"
        );
        let rfc = ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        assert!(chrono::DateTime::parse_from_rfc3339(&rfc).is_ok(), "{rfc}");
    }
    check_state(&parsed, vocab);
}

/// A plain payload's state is its trimmed text read as a word.
fn check_state(parsed: &Parsed, vocab: &Vocabulary) {
    match &parsed.payload {
        Payload::Text(t) => {
            assert_eq!(parsed.state, vocab.word(t.trim()), "state of {t:?}");
            assert_eq!(parsed.detail == Detail::None, t.trim().is_empty());
        }
        Payload::Json(v) => {
            if !v.is_object() && !v.is_string() {
                assert_eq!(parsed.state, State::Unknown);
                assert_eq!(parsed.detail, Detail::None);
            }
        }
    }
}

/// The target's whole check, for the fuzzer and for `tests/fuzz_regressions.rs`.
pub fn check_input(bytes: &[u8]) {
    for vocab in vocabularies() {
        check(bytes, vocab);
    }
    let cert = sparkplug::decode(bytes);
    assert_eq!(
        cert,
        sparkplug::decode(bytes),
        "decode is not deterministic"
    );
    if let Some(cert) = cert {
        assert_eq!(
            sparkplug::decode(&sparkplug::encode(&cert)),
            Some(cert),
            "certificate does not round-trip"
        );
    }
}
