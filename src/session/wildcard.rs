//! Whether the broker delivers retained messages to wildcard subscriptions at all.
//! RabbitMQ (3.x) does not: "RabbitMQ does not send retained messages for Topic Filters
//! containing wildcards" (its MQTT plugin's documentation). Through a wildcard filter, a
//! fleet on such a broker looks exactly like an empty broker, so a snapshot that saw no
//! retained status asks: two retained messages of our own, a second connection subscribed
//! to one through a wildcard and to the other by its exact topic, and both cleared again.
//! The exact one tells a broker blind to wildcards from a message that never got stored
//! (an ACL that drops our publish, which MQTT 3.1.1 cannot report).

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::{Event, Session, SnapshotTracker, Spec};
use crate::config::Connection;

/// Where the test message goes: outside the probe prefix, whose messages the session
/// task drops before they count.
const CHECK_PREFIX: &str = "mqtt-scan/retained-check/";

/// `Some(false)`: the exact subscription got its retained message and the wildcard one
/// did not, within the snapshot rules (`wait`, `settle`). `None`: could not tell (neither
/// came, or a publish or a connection was refused). Over two connections of its own.
pub async fn retained_reach_wildcards(
    conn: &Connection,
    wait: Duration,
    settle: Duration,
) -> Option<bool> {
    let own_id = || Connection {
        client_id: crate::config::random_client_id(),
        warnings: Vec::new(),
        ..conn.clone()
    };
    let quiet = |filters| Spec {
        filters,
        reconnect: false,
        persistent: None,
        count_retained: false,
    };
    let mut writer = Session::connect(&own_id(), quiet(Vec::new())).await.ok()?;
    let base = format!("{CHECK_PREFIX}{:016x}", rand::random::<u64>());
    let topics = vec![
        format!("{base}/wildcard/check"),
        format!("{base}/exact/check"),
    ];
    let bound = conn.connect_timeout.max(Duration::from_secs(1));
    let seen = if writer
        .publish_retained_all(&topics, b"1", bound)
        .await
        .is_ok()
    {
        let spec = quiet(vec![format!("{base}/wildcard/+"), topics[1].clone()]);
        async {
            let mut reader = Session::connect(&own_id(), spec).await.ok()?;
            let seen = reader.watch_for(&topics, wait, settle).await;
            reader.close().await;
            seen
        }
        .await
    } else {
        None
    };
    // Whatever the answer, the messages go again.
    let _ = writer.clear_retained(&topics, bound).await;
    writer.close().await;
    seen
}

impl Session {
    /// Reads the snapshot of the check's two subscriptions: `Some(true)` as soon as the
    /// wildcard's message comes; at the end of the snapshot, `Some(false)` when only the
    /// exact one came, `None` when neither did (or the connection ended).
    async fn watch_for(
        &mut self,
        topics: &[String],
        wait: Duration,
        settle: Duration,
    ) -> Option<bool> {
        let mut tracker = SnapshotTracker::new(wait, settle);
        let mut exact = false;
        loop {
            tokio::select! {
                event = self.events.recv() => match event? {
                    Event::Message(m) if m.retained && m.topic == topics[0] => return Some(true),
                    Event::Message(m) if m.retained && m.topic == topics[1] => {
                        exact = true;
                        tracker.on_retained();
                    }
                    Event::ProbeReturned { ordered } => tracker.on_probe(ordered),
                    Event::Disconnected { .. } => return None,
                    Event::Subscribed { refused } if !refused.is_empty() => return None,
                    _ => {}
                },
                () = sleep_until(tracker.wake_at()) => {}
            }
            if let Some(complete) = tracker.check(Instant::now()) {
                return (complete && exact).then_some(false);
            }
        }
    }
}
