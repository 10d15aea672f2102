//! `watch` event lines: one per state change or broker event, as text or JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::table::state_cell;
use crate::status::{escape, Change};

/// `2026-11-21T10:00:01Z sensor2 online -> offline sensors/connected/sensor2 (retained=false)`;
/// a first sighting reads `- -> online`, a cleared status
/// `offline -> removed sensors/connected/sensor2 (status cleared)`: no message is behind a
/// removal (an empty publish, or a retained status gone from the store at a re-sync), so
/// "retained=..." would describe nothing.
pub fn change_line(c: &Change, color: bool) -> String {
    let (to, how) = match c.to {
        Some(state) => (
            state_cell(state, color),
            if c.retained {
                "retained=true"
            } else {
                "retained=false"
            },
        ),
        None => ("removed".to_owned(), "status cleared"),
    };
    format!(
        "{} {} {} -> {} {} ({how})",
        c.time.format("%Y-%m-%dT%H:%M:%SZ"),
        escape(&c.name),
        c.from.map_or("-", |s| s.as_str()),
        to,
        escape(&c.topic),
    )
}

/// `2026-11-21T10:00:05Z broker disconnected: connection to ... lost` / `... broker connected`.
pub fn broker_line(time: DateTime<Utc>, connected: bool, reason: Option<&str>) -> String {
    let mut line = format!(
        "{} broker {}",
        time.format("%Y-%m-%dT%H:%M:%SZ"),
        if connected {
            "connected"
        } else {
            "disconnected"
        }
    );
    if let Some(r) = reason {
        line.push_str(": ");
        line.push_str(&escape(r));
    }
    line
}

/// `{"event":"broker","time","state","reason"}`.
#[derive(Debug, Serialize)]
pub struct BrokerEvent<'a> {
    pub event: &'static str,
    pub time: DateTime<Utc>,
    pub state: &'static str,
    pub reason: Option<&'a str>,
}

impl<'a> BrokerEvent<'a> {
    pub fn new(time: DateTime<Utc>, connected: bool, reason: Option<&'a str>) -> Self {
        Self {
            event: "broker",
            time,
            state: if connected {
                "connected"
            } else {
                "disconnected"
            },
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::status::{Payload, State};

    fn change(from: Option<State>, to: Option<State>) -> Change {
        Change {
            time: Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 1).unwrap()
                + chrono::Duration::milliseconds(250),
            name: "sensor2".into(),
            from,
            to,
            topic: "sensors/connected/sensor2".into(),
            payload: Payload::Text("0".into()),
            retained: false,
        }
    }

    #[test]
    fn text_lines_match_the_spec() {
        assert_eq!(
            change_line(&change(Some(State::Online), Some(State::Offline)), false),
            "2026-11-21T10:00:01Z sensor2 online -> offline sensors/connected/sensor2 (retained=false)"
        );
        assert_eq!(
            change_line(&change(None, Some(State::Online)), false),
            "2026-11-21T10:00:01Z sensor2 - -> online sensors/connected/sensor2 (retained=false)"
        );
        assert_eq!(
            change_line(&change(Some(State::Offline), None), false),
            "2026-11-21T10:00:01Z sensor2 offline -> removed sensors/connected/sensor2 (status cleared)"
        );
        // A status gone from the retained store at a re-sync: no message, nothing retained.
        let mut swept = change(Some(State::Online), None);
        swept.retained = true;
        assert_eq!(
            change_line(&swept, false),
            "2026-11-21T10:00:01Z sensor2 online -> removed sensors/connected/sensor2 (status cleared)"
        );
        let mut evil = change(None, Some(State::Online));
        evil.name = "a\x1b[2Jb".into();
        assert!(change_line(&evil, false).contains("a\\x1b[2Jb"));
    }

    #[test]
    fn json_lines_match_the_spec() {
        let mut out = Vec::new();
        super::super::json::line(&mut out, &change(None, Some(State::Online))).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"event\":\"change\",\"time\":\"2026-11-21T10:00:01.250Z\",\"name\":\"sensor2\",\"from\":null,\"to\":\"online\",\"topic\":\"sensors/connected/sensor2\",\"payload\":\"0\",\"retained\":false}\n"
        );
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 5).unwrap();
        let mut out = Vec::new();
        super::super::json::line(&mut out, &BrokerEvent::new(t, false, Some("gone"))).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"event\":\"broker\",\"time\":\"2026-11-21T10:00:05Z\",\"state\":\"disconnected\",\"reason\":\"gone\"}\n"
        );
        assert_eq!(
            broker_line(t, true, None),
            "2026-11-21T10:00:05Z broker connected"
        );
    }
}
