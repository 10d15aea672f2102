//! `/metrics`: the table as Prometheus series, through the `prometheus-client` crate.
//!
//! Per client (at most `--metrics-max-clients` of them, the first seen): `up`, the last
//! state change's time and the count of state changes; for all: the totals by state, the
//! broker connection, the clients left without series of their own, and the events that
//! lagging SSE readers missed. The driver task updates them as changes arrive; a scrape
//! encodes them (the totals are refreshed by the driver first, see `hub`).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as Prom;

use crate::status::{Registry, Row, State, Summary};

/// The metric names' common prefix.
pub const PREFIX: &str = "mqtt_scan";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    client: String,
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// What a client's series were last set from.
struct Exported {
    source: Arc<str>,
    changes: u32,
}

/// The metrics, as the driver updates them.
pub struct Metrics {
    up: Family<ClientLabels, Gauge>,
    last_change: Family<ClientLabels, Gauge<f64, AtomicU64>>,
    changes: Family<ClientLabels, Counter>,
    clients: Family<StateLabels, Gauge>,
    broker_up: Gauge,
    dropped: Gauge,
    /// Events a lagging SSE reader missed (the HTTP side counts them).
    pub lagged: Counter,
    exported: HashMap<String, Exported>,
    max_clients: usize,
}

impl Metrics {
    /// The metrics and the registry a scrape encodes.
    pub fn new(max_clients: usize) -> (Self, Prom) {
        let m = Self {
            up: Family::default(),
            last_change: Family::default(),
            changes: Family::default(),
            clients: Family::default(),
            broker_up: Gauge::default(),
            dropped: Gauge::default(),
            lagged: Counter::default(),
            exported: HashMap::new(),
            max_clients,
        };
        let mut prom = Prom::with_prefix(PREFIX);
        prom.register(
            "client_up",
            "Whether the client's status says online (1) or not (0: offline or unknown)",
            m.up.clone(),
        );
        prom.register(
            "client_last_change_timestamp_seconds",
            "When the client's state last changed (Unix time), where known",
            m.last_change.clone(),
        );
        prom.register(
            "client_changes",
            "State changes of the client seen by this process after its first sighting",
            m.changes.clone(),
        );
        prom.register(
            "clients",
            "Clients by state (every client, whatever --metrics-max-clients)",
            m.clients.clone(),
        );
        prom.register(
            "broker_up",
            "Whether the connection to the broker is up (1) or lost (0)",
            m.broker_up.clone(),
        );
        prom.register(
            "client_series_dropped",
            "Clients without series of their own: beyond --metrics-max-clients",
            m.dropped.clone(),
        );
        prom.register(
            "sse_lagged_events",
            "Events that /api/events readers too slow to keep up missed",
            m.lagged.clone(),
        );
        (m, prom)
    }

    pub fn set_broker_up(&self, up: bool) {
        self.broker_up.set(i64::from(up));
    }

    /// A change for `name`: its series follow its row as the registry holds it now (gone
    /// when the row is gone).
    pub fn on_change(&mut self, name: &str, row: Option<&Row>) {
        let Some(row) = row else {
            if let Some(old) = self.exported.remove(name) {
                self.remove_series(name, &old.source);
            }
            return;
        };
        match self.exported.get(name) {
            Some(e) if e.source == row.source => {}
            Some(_) => {
                // A new source for the same name: its old series go.
                if let Some(old) = self.exported.remove(name) {
                    self.remove_series(name, &old.source);
                }
                self.admit(name, row);
            }
            None if self.exported.len() < self.max_clients => self.admit(name, row),
            None => return,
        }
        let Some(seen) = self.exported.get_mut(name) else {
            return;
        };
        let grew = row.changes.saturating_sub(seen.changes);
        seen.changes = row.changes;
        let labels = ClientLabels {
            client: name.to_owned(),
            source: row.source.to_string(),
        };
        self.up
            .get_or_create(&labels)
            .set(i64::from(row.state == State::Online));
        self.changes.get_or_create(&labels).inc_by(u64::from(grew));
        if let Some(since) = row.since {
            #[allow(clippy::cast_precision_loss)] // milliseconds since 1970 fit in f64's 53 bits
            let t = since.timestamp_millis() as f64 / 1000.0;
            self.last_change.get_or_create(&labels).set(t);
        }
    }

    fn admit(&mut self, name: &str, row: &Row) {
        self.exported.insert(
            name.to_owned(),
            Exported {
                source: row.source.clone(),
                changes: 0,
            },
        );
    }

    fn remove_series(&self, name: &str, source: &str) {
        let labels = ClientLabels {
            client: name.to_owned(),
            source: source.to_owned(),
        };
        self.up.remove(&labels);
        self.last_change.remove(&labels);
        self.changes.remove(&labels);
    }

    /// The totals, from the whole table (before a scrape).
    pub fn refresh(&self, registry: &Registry) {
        let s: Summary = registry.summary();
        for (state, n) in [
            ("online", s.online),
            ("offline", s.offline),
            ("unknown", s.unknown),
        ] {
            self.clients
                .get_or_create(&StateLabels { state })
                .set(gauge(n));
        }
        self.dropped
            .set(gauge(s.total.saturating_sub(self.exported.len())));
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The exposition as OpenMetrics text (what Prometheus asks for).
pub fn openmetrics(prom: &Prom) -> String {
    let mut out = String::with_capacity(4096);
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, prom);
    out
}

/// The OpenMetrics text as the classic Prometheus text format (0.0.4), for clients that
/// do not ask for OpenMetrics (curl, `promtool check metrics`): a counter family is named
/// with its `_total` suffix there, and there is no `# EOF` nor `# UNIT`. Line by line: label
/// values never hold a raw newline (the encoder escapes it).
pub fn classic(open: &str) -> String {
    let counters: Vec<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        if let Some((prefix, rest)) = meta {
            let name = rest.split(' ').next().unwrap_or(rest);
            if counters.contains(&name) {
                out.push_str(prefix);
                out.push_str(name);
                out.push_str("_total");
                out.push_str(&rest[name.len()..]);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Observation, Pattern, Source, Vocabulary};

    fn registry(statuses: &[(&str, &str)]) -> Registry {
        let mut r = Registry::new(
            vec![Source::topic(Pattern::parse("s/#").unwrap())],
            Vocabulary::default(),
        );
        for (i, (topic, payload)) in statuses.iter().enumerate() {
            let at = chrono::DateTime::from_timestamp(1_800_000_000 + i64::try_from(i).unwrap(), 0)
                .unwrap();
            r.fold(
                &Observation {
                    topic,
                    payload: payload.as_bytes(),
                    retained: false,
                },
                at,
            );
        }
        r
    }

    fn sample<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn series_follow_the_rows_and_the_cap() {
        let (mut m, prom) = Metrics::new(2);
        let r = registry(&[("s/a", "1"), ("s/b", "0"), ("s/c", "1"), ("s/a", "0")]);
        for name in ["a", "b", "c"] {
            m.on_change(name, r.get(name));
        }
        m.refresh(&r);
        m.set_broker_up(true);
        let text = classic(&openmetrics(&prom));
        // a and b have series; c came third, beyond the cap of 2.
        assert!(
            text.contains("mqtt_scan_client_up{client=\"a\",source=\"topic\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("mqtt_scan_client_up{client=\"b\",source=\"topic\"} 0\n"),
            "{text}"
        );
        assert_eq!(sample(&text, "mqtt_scan_client_up{").len(), 2, "{text}");
        assert!(text.contains("mqtt_scan_client_changes_total{client=\"a\",source=\"topic\"} 1\n"));
        assert!(
            text.contains("mqtt_scan_client_series_dropped 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mqtt_scan_clients{state=\"offline\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("mqtt_scan_clients{state=\"online\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("mqtt_scan_broker_up 1\n"), "{text}");
        // a's state changed at the fourth message: 1_800_000_003.
        assert!(
            text.contains("mqtt_scan_client_last_change_timestamp_seconds{client=\"a\",source=\"topic\"} 1800000003.0\n"),
            "{text}"
        );
        // A removed client's series go, and free a place under the cap.
        let r2 = registry(&[("s/b", "0"), ("s/c", "1")]);
        m.on_change("a", None);
        m.on_change("c", r2.get("c"));
        let text = openmetrics(&prom);
        assert!(!text.contains("client=\"a\""), "{text}");
        assert!(
            text.contains("mqtt_scan_client_up{client=\"c\",source=\"topic\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn the_classic_text_names_counters_with_total() {
        let (m, prom) = Metrics::new(10);
        m.lagged.inc();
        let open = openmetrics(&prom);
        assert!(
            open.contains("# TYPE mqtt_scan_sse_lagged_events counter\n"),
            "{open}"
        );
        assert!(open.ends_with("# EOF\n"));
        let text = classic(&open);
        assert!(
            text.contains("# HELP mqtt_scan_sse_lagged_events_total Events"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE mqtt_scan_sse_lagged_events_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("\nmqtt_scan_sse_lagged_events_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE mqtt_scan_broker_up gauge\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn hostile_names_are_escaped_label_values() {
        let (mut m, prom) = Metrics::new(10);
        let r = registry(&[("s/we\"ird\\na\nme", "1")]);
        m.on_change("we\"ird\\na\nme", r.get("we\"ird\\na\nme"));
        let text = classic(&openmetrics(&prom));
        assert!(
            text.contains(
                "mqtt_scan_client_up{client=\"we\\\"ird\\\\na\\nme\",source=\"topic\"} 1\n"
            ),
            "{text}"
        );
    }
}
