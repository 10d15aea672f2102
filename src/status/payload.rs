//! Payload bytes -> state, detail, timestamp, address. Never fails: what it cannot read is
//! `unknown` with the raw payload kept.

use std::borrow::Cow;

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum State {
    // Declared trouble first: `--sort state` puts offline, then unknown, then online.
    Offline,
    Unknown,
    Online,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Online => "online",
            State::Offline => "offline",
            State::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const ONLINE: &[&str] = &[
    "1",
    "2",
    "true",
    "online",
    "connected",
    "up",
    "ready",
    "init",
    "alert",
];
const OFFLINE: &[&str] = &[
    "0",
    "false",
    "offline",
    "disconnected",
    "down",
    "lost",
    "dead",
    "sleeping",
];

/// The words that mean online and offline: the SPEC's, plus `--online-values` and
/// `--offline-values`. Matching is on the trimmed word, case-insensitive.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    extra_online: Vec<String>,
    extra_offline: Vec<String>,
}

impl Vocabulary {
    pub fn new(extra_online: &[String], extra_offline: &[String]) -> Self {
        let clean = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|w| w.trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect()
        };
        Self {
            extra_online: clean(extra_online),
            extra_offline: clean(extra_offline),
        }
    }

    /// Reads one word. User words are checked first, so `--offline-values 2` can redefine `2`.
    pub fn word(&self, word: &str) -> State {
        let word = word.trim();
        if word.is_empty() || word.len() > 64 {
            return State::Unknown;
        }
        if !self.extra_online.is_empty() || !self.extra_offline.is_empty() {
            let lower = word.to_lowercase();
            if self.extra_offline.contains(&lower) {
                return State::Offline;
            }
            if self.extra_online.contains(&lower) {
                return State::Online;
            }
        }
        if ONLINE.iter().any(|w| w.eq_ignore_ascii_case(word)) {
            State::Online
        } else if OFFLINE.iter().any(|w| w.eq_ignore_ascii_case(word)) {
            State::Offline
        } else {
            State::Unknown
        }
    }
}

/// A payload as kept in a row: its text (lossy UTF-8), or the parsed JSON value. Boxed:
/// a row is kept per client, and most fleets' payloads are a few bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    Text(Box<str>),
    Json(Box<Value>),
}

impl Payload {
    /// One line of text for table and CSV output (JSON re-encoded compactly).
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Payload::Text(t) => Cow::Borrowed(t),
            Payload::Json(v) => Cow::Owned(v.to_string()),
        }
    }
}

/// The state word or value as received (`"2"`, `"Online"`, `true`).
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    None,
    /// The trimmed text of a plain payload, first 64 bytes: derived when shown rather than
    /// stored twice.
    Word,
    Value(Box<Value>),
}

impl Detail {
    /// The detail as a JSON value, given the payload it belongs to.
    pub fn value(&self, payload: &Payload) -> Option<Value> {
        match (self, payload) {
            (Detail::Value(v), _) => Some((**v).clone()),
            (Detail::Word, Payload::Text(t)) => Some(Value::String(truncate(t.trim(), DETAIL_MAX))),
            _ => None,
        }
    }

    /// The detail, borrowed, to serialize: `value` without the copy.
    pub fn as_json<'a>(&'a self, payload: &'a Payload) -> Option<DetailJson<'a>> {
        match (self, payload) {
            (Detail::Value(v), _) => Some(DetailJson::Value(v)),
            (Detail::Word, Payload::Text(t)) => {
                Some(DetailJson::Word(truncated(t.trim(), DETAIL_MAX)))
            }
            _ => None,
        }
    }

    /// Whether the detail is this word (case-insensitive), without building its text.
    pub fn is(&self, payload: &Payload, word: &str) -> bool {
        match (self, payload) {
            (Detail::Value(v), _) => v
                .as_str()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case(word)),
            (Detail::Word, Payload::Text(t)) => t.trim().eq_ignore_ascii_case(word),
            _ => false,
        }
    }

    /// The detail as one word of text: strings as they are, `true`, `2`.
    pub fn text<'a>(&'a self, payload: &'a Payload) -> Option<Cow<'a, str>> {
        match (self, payload) {
            (Detail::Value(v), _) => Some(match &**v {
                Value::String(s) => Cow::Borrowed(s.as_str()),
                other => Cow::Owned(other.to_string()),
            }),
            (Detail::Word, Payload::Text(t)) => Some(Cow::Owned(truncate(t.trim(), DETAIL_MAX))),
            _ => None,
        }
    }
}

/// A detail as JSON, borrowed from its row.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum DetailJson<'a> {
    Word(Cow<'a, str>),
    Value(&'a Value),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub state: State,
    pub detail: Detail,
    pub ts: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub reported_name: Option<String>,
    pub payload: Payload,
}

const STATE_KEYS: &[&str] = &["status", "state", "connected", "online", "value"];
const TIME_KEYS: &[&str] = &["ts", "timestamp", "time", "since"];
const IP_KEYS: &[&str] = &["ip", "ip_address", "address"];
const NAME_KEYS: &[&str] = &["client", "client_id", "name"];
/// How much of an unreadable plain payload is kept as its `detail`.
const DETAIL_MAX: usize = 64;

/// Parses a non-empty payload (an empty one is a removal, handled by the registry).
pub fn parse(bytes: &[u8], vocab: &Vocabulary) -> Parsed {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim();
    if matches!(trimmed.as_bytes().first(), Some(b'{' | b'[' | b'"')) {
        if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
            return parse_json(value, vocab);
        }
    }
    Parsed {
        state: vocab.word(trimmed),
        detail: if trimmed.is_empty() {
            Detail::None
        } else {
            Detail::Word
        },
        ts: None,
        ip: None,
        reported_name: None,
        payload: Payload::Text(text.into()),
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    truncated(s, max).into_owned()
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut.
fn truncated(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

fn parse_json(value: Value, vocab: &Vocabulary) -> Parsed {
    let mut parsed = Parsed {
        state: State::Unknown,
        detail: Detail::None,
        ts: None,
        ip: None,
        reported_name: None,
        payload: Payload::Text("".into()),
    };
    match &value {
        Value::Object(map) => read_object(map, vocab, &mut parsed),
        // A JSON string such as `"online"`: read its content as a word.
        Value::String(s) => {
            parsed.state = vocab.word(s);
            parsed.detail = Detail::Value(Box::new(Value::String(truncate(s.trim(), DETAIL_MAX))));
        }
        _ => {}
    }
    parsed.payload = Payload::Json(Box::new(value));
    parsed
}

fn read_object(map: &Map<String, Value>, vocab: &Vocabulary, parsed: &mut Parsed) {
    // The first key present decides, even when its value is unreadable (no fall-through).
    if let Some(v) = STATE_KEYS.iter().find_map(|k| map.get(*k)) {
        parsed.state = match v {
            Value::Bool(true) => State::Online,
            Value::Bool(false) => State::Offline,
            Value::Number(n) => vocab.word(&n.to_string()),
            Value::String(s) => vocab.word(s),
            _ => State::Unknown,
        };
        parsed.detail = match v {
            Value::String(s) => {
                Detail::Value(Box::new(Value::String(truncate(s.trim(), DETAIL_MAX))))
            }
            Value::Bool(_) | Value::Number(_) => Detail::Value(Box::new(v.clone())),
            _ => Detail::None,
        };
    }
    parsed.ts = TIME_KEYS
        .iter()
        .find_map(|k| map.get(*k))
        .and_then(timestamp);
    parsed.ip = IP_KEYS
        .iter()
        .find_map(|k| map.get(*k)?.as_str().map(str::to_owned));
    parsed.reported_name = NAME_KEYS
        .iter()
        .find_map(|k| map.get(*k)?.as_str().map(str::to_owned));
}

/// Unix seconds, unix milliseconds (numbers above 1e11: seconds that large are the year
/// 5138), or an RFC 3339 string.
pub fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => from_number(n.as_f64()?),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                // Milliseconds are all a status needs, and every time we print has at most.
                let t = t.with_timezone(&Utc).trunc_subsecs(3);
                // The range numbers have: an offset can take 9999-12-31 past year 9999.
                return from_millis(t.timestamp_millis());
            }
            from_number(s.parse::<f64>().ok()?)
        }
        _ => None,
    }
}

#[allow(clippy::cast_possible_truncation)]
fn from_number(x: f64) -> Option<DateTime<Utc>> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let millis = if x >= 1e11 { x } else { x * 1000.0 };
    // Past 9999-12-31 a time cannot be written as RFC 3339.
    if millis > MAX_MILLIS {
        return None;
    }
    from_millis(millis.round() as i64)
}

/// Unix milliseconds as a time, if RFC 3339 can write it and it is not before 1970.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn from_millis(millis: i64) -> Option<DateTime<Utc>> {
    if millis < 0 || millis as f64 > MAX_MILLIS {
        return None;
    }
    Utc.timestamp_millis_opt(millis).single()
}

/// 9999-12-31T23:59:59.999Z.
const MAX_MILLIS: f64 = 253_402_300_799_999.0;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Parsed {
        parse(s.as_bytes(), &Vocabulary::default())
    }

    fn detail(s: &str) -> Option<Value> {
        let r = p(s);
        r.detail.value(&r.payload)
    }

    #[test]
    fn every_online_word_reads_online() {
        for w in [
            "1",
            "2",
            "true",
            "online",
            "connected",
            "up",
            "ready",
            "init",
            "alert",
        ] {
            assert_eq!(p(w).state, State::Online, "{w}");
            assert_eq!(
                p(&format!("  {}\n", w.to_uppercase())).state,
                State::Online,
                "{w}"
            );
        }
    }

    #[test]
    fn every_offline_word_reads_offline() {
        for w in [
            "0",
            "false",
            "offline",
            "disconnected",
            "down",
            "lost",
            "dead",
            "sleeping",
        ] {
            assert_eq!(p(w).state, State::Offline, "{w}");
            assert_eq!(
                p(&format!("\t{}  ", w.to_uppercase())).state,
                State::Offline,
                "{w}"
            );
        }
    }

    #[test]
    fn the_original_word_is_the_detail() {
        assert_eq!(detail("Online"), Some(json!("Online")));
        assert_eq!(detail("2"), Some(json!("2")));
        assert_eq!(detail(" lost "), Some(json!("lost")));
        assert_eq!(p("sleeping").state, State::Offline);
    }

    #[test]
    fn anything_else_is_unknown_with_the_payload_kept() {
        let r = p("maybe?");
        assert_eq!(r.state, State::Unknown);
        assert_eq!(r.payload, Payload::Text("maybe?".into()));
        assert_eq!(r.detail.text(&r.payload).as_deref(), Some("maybe?"));
        assert_eq!(p("3").state, State::Unknown);
        assert_eq!(p("null").state, State::Unknown);
    }

    #[test]
    fn extra_words_extend_and_override_the_vocabulary() {
        let v = Vocabulary::new(&["Alive".into()], &["2".into(), " zzz ".into()]);
        assert_eq!(v.word("alive"), State::Online);
        assert_eq!(v.word("ZZZ"), State::Offline);
        assert_eq!(v.word("2"), State::Offline);
        assert_eq!(v.word("1"), State::Online);
    }

    #[test]
    fn json_state_comes_from_the_first_present_key() {
        assert_eq!(p(r#"{"status":1}"#).state, State::Online);
        assert_eq!(p(r#"{"state":"offline"}"#).state, State::Offline);
        assert_eq!(p(r#"{"connected":true}"#).state, State::Online);
        assert_eq!(p(r#"{"online":false}"#).state, State::Offline);
        assert_eq!(p(r#"{"value":"up"}"#).state, State::Online);
        // `status` comes before `online`, and an unreadable first key does not fall through.
        assert_eq!(p(r#"{"online":true,"status":0}"#).state, State::Offline);
        assert_eq!(
            p(r#"{"status":"weird","online":true}"#).state,
            State::Unknown
        );
        assert_eq!(p(r#"{"status":{"x":1}}"#).state, State::Unknown);
        assert_eq!(p(r#"{"other":1}"#).state, State::Unknown);
    }

    #[test]
    fn json_detail_keeps_the_value_type() {
        assert_eq!(detail(r#"{"connected":true}"#), Some(json!(true)));
        assert_eq!(detail(r#"{"status":2}"#), Some(json!(2)));
        assert_eq!(detail(r#"{"state":"Online"}"#), Some(json!("Online")));
        assert_eq!(detail(r#"{"other":1}"#), None);
    }

    #[test]
    fn json_timestamps_in_seconds_millis_and_rfc3339() {
        let want = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 1).unwrap();
        assert_eq!(p(r#"{"status":1,"ts":1795255201}"#).ts, Some(want));
        assert_eq!(
            p(r#"{"status":1,"timestamp":1795255201000}"#).ts,
            Some(want)
        );
        assert_eq!(
            p(r#"{"status":1,"time":"2026-11-21T10:00:01Z"}"#).ts,
            Some(want)
        );
        assert_eq!(
            p(r#"{"status":1,"since":"2026-11-21T11:00:01+01:00"}"#).ts,
            Some(want)
        );
        assert_eq!(p(r#"{"status":1,"ts":"1795255201"}"#).ts, Some(want));
        assert_eq!(
            p(r#"{"status":1,"ts":1795255201.5}"#).ts,
            Some(want + chrono::Duration::milliseconds(500))
        );
        assert_eq!(p(r#"{"status":1,"ts":"yesterday"}"#).ts, None);
        // Found by the `payload` fuzz target: RFC 3339 had no range, and an offset takes
        // 9999-12-31 into year 10000, which no RFC 3339 output can write.
        assert_eq!(
            p(r#"{"status":1,"ts":"9999-12-31T23:59:59-01:00"}"#).ts,
            None
        );
        assert_eq!(p(r#"{"status":1,"ts":"1013-11-21T10:00:01Z"}"#).ts, None);
        assert!(p(r#"{"status":1,"ts":"9999-12-31T23:59:59+01:00"}"#)
            .ts
            .is_some());
        assert_eq!(p(r#"{"status":1,"ts":-5}"#).ts, None);
        assert_eq!(p(r#"{"status":1,"ts":1e300}"#).ts, None);
        assert_eq!(
            p(r#"{"status":1,"ts":253402300800000}"#).ts,
            None,
            "year 10000"
        );
        assert!(p(r#"{"status":1,"ts":253402300799999}"#).ts.is_some());
        assert_eq!(
            p(r#"{"status":1,"ts":"2026-11-21T10:00:01.123456789Z"}"#).ts,
            Some(want + chrono::Duration::milliseconds(123))
        );
    }

    #[test]
    fn json_ip_and_reported_name() {
        let r = p(r#"{"status":1,"ip":"10.0.0.5","client":"dev-1","fw":"1.2"}"#);
        assert_eq!(r.ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(r.reported_name.as_deref(), Some("dev-1"));
        assert_eq!(
            p(r#"{"address":"fe80::1","client_id":"x"}"#).ip.as_deref(),
            Some("fe80::1")
        );
        assert_eq!(
            p(r#"{"ip_address":"1.2.3.4","name":"n"}"#)
                .reported_name
                .as_deref(),
            Some("n")
        );
        assert_eq!(p(r#"{"ip":42}"#).ip, None);
        // Other fields stay in the payload.
        assert_eq!(
            r.payload,
            Payload::Json(Box::new(
                json!({"status":1,"ip":"10.0.0.5","client":"dev-1","fw":"1.2"})
            ))
        );
    }

    #[test]
    fn json_that_is_not_an_object() {
        assert_eq!(p(r#"["online"]"#).state, State::Unknown);
        assert_eq!(p(r#""online""#).state, State::Online);
        assert_eq!(p("42").state, State::Unknown);
        assert_eq!(p("{not json").state, State::Unknown);
        assert_eq!(p("{not json").payload, Payload::Text("{not json".into()));
    }

    #[test]
    fn hostile_payloads_are_unknown_rows() {
        let v = Vocabulary::default();
        assert_eq!(parse(&[0xff, 0xfe, 0x00, 0x1b], &v).state, State::Unknown);
        let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse(nested.as_bytes(), &v).state, State::Unknown);
        let nested_obj = format!("{}1{}", "{\"status\":".repeat(10_000), "}".repeat(10_000));
        assert_eq!(parse(nested_obj.as_bytes(), &v).state, State::Unknown);
        let big = vec![b'x'; 1 << 20];
        let r = parse(&big, &v);
        assert_eq!(r.state, State::Unknown);
        assert!(r.detail.text(&r.payload).unwrap().chars().count() <= 65);
        assert_eq!(parse("ä".repeat(40).as_bytes(), &v).state, State::Unknown);
    }
}
