//! Brokers' events about clients (EMQX, RMQTT, NanoMQ, aedes, AWS IoT): the topic says
//! whether a client connected or disconnected; the payload may name it and say when, from
//! where and why.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Registry, Row};
use crate::status::payload::{self, Detail, Payload, State};
use crate::status::presets::EventFields;

/// MQTT's limit on a client id (a UTF-8 string): a longer "name" in a payload is garbage.
const MAX_NAME: usize = 65_535;
/// How far from its arrival an event's own time is believed. An event is news: a time
/// further off is a broker clock that is not the wall clock (older NanoMQ puts its
/// monotonic clock, `nni_clock()`, in `ts`), and the arrival time serves instead. A day keeps the true
/// times of what a persistent session queued while the watcher was away.
const BELIEVABLE_SECS: i64 = 24 * 3600;
/// The length past which an address field is not an address.
const MAX_IP: usize = 64;
/// How much of a disconnect reason is kept as the detail.
const DETAIL_MAX: usize = 64;
/// What every mqtt-scan's generated client id starts with (`config::random_client_id`).
pub const GENERATED_PREFIX: &str = "mqtt-scan-";

/// Whether `id` is one mqtt-scan generates (`mqtt-scan-` and 16 hex digits): its own and
/// other scanners' connections (a cron job's `check`, another watcher's side connection)
/// are noise in a fleet, never rows.
pub fn is_generated_client_id(id: &str) -> bool {
    id.strip_prefix(GENERATED_PREFIX)
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A payload that is a client id: UTF-8, not blank, no longer than MQTT allows.
pub(super) fn payload_name(bytes: &[u8]) -> Option<Cow<'_, str>> {
    let text = std::str::from_utf8(bytes).ok()?;
    usable(text).then_some(Cow::Borrowed(text))
}

/// A JSON object's string field that is a client id.
pub(super) fn field_name(bytes: &[u8], field: &str) -> Option<String> {
    if bytes.len() > MAX_NAME * 4 + 4096 || !bytes.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let name = value.get(field)?.as_str()?;
    usable(name).then(|| name.to_owned())
}

fn usable(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= MAX_NAME
}

/// The address in a field: an IP, or a socket address (RMQTT's `127.0.0.1:52114`) whose
/// port is dropped.
fn address(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_IP {
        return None;
    }
    Some(
        text.parse::<std::net::SocketAddr>()
            .map_or_else(|_| text.to_owned(), |a| a.ip().to_string()),
    )
}

impl Registry {
    /// A connect (`online`) or disconnect event as a parsed status; None when it makes no
    /// change: a connection of ours, or an event older than the row's last (brokers such
    /// as AWS IoT may deliver them out of order).
    pub(super) fn event(
        &self,
        name: &str,
        online: bool,
        fields: &EventFields,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Option<payload::Parsed> {
        if is_generated_client_id(name) || self.hidden.iter().any(|h| &**h == name) {
            return None;
        }
        let text = String::from_utf8_lossy(bytes);
        let json = text
            .trim_start()
            .starts_with('{')
            .then(|| serde_json::from_str::<Value>(text.trim()).ok())
            .flatten();
        let map = json.as_ref().and_then(Value::as_object);
        let get = |keys: &[&str]| map.and_then(|m| keys.iter().find_map(|k| m.get(*k)));
        let ts = get(fields.time)
            .and_then(payload::timestamp)
            .filter(|t| (*t - now).num_seconds().abs() <= BELIEVABLE_SECS);
        if let (Some(new), Some(old)) = (ts, self.get(name).and_then(Row::payload_ts)) {
            if new < old {
                return None;
            }
        }
        // A disconnect that does not say the address (AWS IoT's) keeps the connect's.
        let ip = get(fields.ip)
            .and_then(Value::as_str)
            .and_then(address)
            .or_else(|| self.get(name).and_then(Row::ip).map(str::to_owned));
        let detail = match get(fields.detail) {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                Value::String(payload::truncate(s.trim(), DETAIL_MAX))
            }
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.clone(),
            _ => Value::String(if online { "connected" } else { "disconnected" }.into()),
        };
        Some(payload::Parsed {
            state: if online {
                State::Online
            } else {
                State::Offline
            },
            detail: Detail::Value(Box::new(detail)),
            ts,
            ip,
            reported_name: None,
            payload: match json {
                Some(v) => Payload::Json(Box::new(v)),
                None => Payload::Text(text.into()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_recognised_and_others_are_not() {
        assert!(is_generated_client_id("mqtt-scan-0123456789abcdef"));
        assert!(!is_generated_client_id("mqtt-scan-0123456789abcde"));
        assert!(!is_generated_client_id("mqtt-scan-0123456789abcdeg"));
        assert!(!is_generated_client_id("mqtt-scan-kitchen"));
        assert!(!is_generated_client_id("sensor1"));
        // The one generator and the one predicate agree.
        assert!(is_generated_client_id(&crate::config::random_client_id()));
    }

    #[test]
    fn names_from_payloads_must_be_usable() {
        assert_eq!(payload_name(b"sensor-7").as_deref(), Some("sensor-7"));
        assert_eq!(payload_name(b""), None);
        assert_eq!(payload_name(b"   "), None);
        assert_eq!(payload_name(&[0xff, 0xfe]), None);
        assert_eq!(payload_name(&vec![b'x'; MAX_NAME + 1]), None);
        assert_eq!(
            field_name(br#"{"client_id":"nano-1","ts":1}"#, "client_id").as_deref(),
            Some("nano-1")
        );
        assert_eq!(field_name(br#"{"client_id":7}"#, "client_id"), None);
        assert_eq!(field_name(br#"{"client_id":""}"#, "client_id"), None);
        assert_eq!(field_name(br#"{"other":"x"}"#, "client_id"), None);
        assert_eq!(field_name(br#"["client_id"]"#, "client_id"), None);
        assert_eq!(field_name(b"{not json", "client_id"), None);
    }

    #[test]
    fn addresses_lose_their_port() {
        assert_eq!(address("127.0.0.1:1883").as_deref(), Some("127.0.0.1"));
        assert_eq!(address("[fe80::1]:1883").as_deref(), Some("fe80::1"));
        assert_eq!(address("fe80::1").as_deref(), Some("fe80::1"));
        assert_eq!(address("192.0.2.0").as_deref(), Some("192.0.2.0"));
        assert_eq!(address(""), None);
        assert_eq!(address(&"1".repeat(MAX_IP + 1)), None);
    }
}
