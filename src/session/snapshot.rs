//! When the retained snapshot is complete, and keeping mosquitto from stalling its end.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::client::Client;
use crate::cli::MAX_DURATION;

/// Decides when the retained snapshot is complete: the SUBACK has come, the probe has come
/// back, and `settle` has passed with no retained message (skipped when the broker is known
/// to deliver its retained messages before the probe); `wait` bounds it all.
#[derive(Debug, Clone)]
pub struct SnapshotTracker {
    deadline: Instant,
    settle: Duration,
    probe_at: Option<Instant>,
    last_retained: Instant,
    ordered: bool,
}

impl SnapshotTracker {
    pub fn new(wait: Duration, settle: Duration) -> Self {
        let now = Instant::now();
        Self {
            deadline: now + wait.min(MAX_DURATION),
            settle: settle.min(MAX_DURATION),
            probe_at: None,
            last_retained: now,
            ordered: false,
        }
    }

    pub fn on_retained(&mut self) {
        self.last_retained = Instant::now();
    }

    pub fn on_probe(&mut self, ordered: bool) {
        self.probe_at = Some(Instant::now());
        self.ordered = ordered;
    }

    fn quiet_until(&self) -> Option<Instant> {
        self.probe_at
            .map(|p| p.max(self.last_retained) + self.settle)
    }

    /// When to look again if nothing arrives.
    pub fn wake_at(&self) -> Instant {
        self.quiet_until()
            .map_or(self.deadline, |q| q.min(self.deadline))
    }

    pub fn expired(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// `Some(true)`: complete; `Some(false)`: `wait` ran out first; `None`: keep going.
    pub fn check(&self, now: Instant) -> Option<bool> {
        if self.probe_at.is_some() && self.ordered {
            return Some(true);
        }
        if self.quiet_until().is_some_and(|q| now >= q) {
            return Some(true);
        }
        (now >= self.deadline).then_some(false)
    }
}

/// Keeps mosquitto from stalling the snapshot's last steps. mosquitto leaves Nagle's
/// algorithm on: after one small packet it holds the next back until we acknowledge the
/// first, and the kernel delays an acknowledgement that has nothing to ride on by up to
/// 40 ms. While the probe is out, whenever nothing has arrived for a millisecond, a QoS 0
/// message to a topic nobody subscribes to carries the acknowledgement at once (nothing
/// comes back, which would stall the same way). A steady stream never pauses, so a large
/// snapshot sends few.
pub(super) struct Nudger {
    state: Arc<NudgeState>,
}

#[derive(Default)]
struct NudgeState {
    armed: std::sync::atomic::AtomicBool,
    /// Packets received: the nudger acts when this stops moving.
    seen: std::sync::atomic::AtomicU64,
    closed: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl Nudger {
    const QUIET: Duration = Duration::from_millis(1);

    pub(super) fn spawn(client: Client, topic: String) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let state = Arc::new(NudgeState::default());
        let s = Arc::clone(&state);
        tokio::spawn(async move {
            let mut nudged_at = None;
            while !s.closed.load(Relaxed) {
                if !s.armed.load(Relaxed) {
                    s.wake.notified().await;
                    continue;
                }
                let before = s.seen.load(Relaxed);
                sleep(Self::QUIET).await;
                let now = s.seen.load(Relaxed);
                // Quiet for a whole step, and not nudged yet in this pause.
                if s.armed.load(Relaxed) && now == before && nudged_at != Some(now) {
                    client.nudge(&topic);
                    nudged_at = Some(now);
                }
            }
        });
        Self { state }
    }

    pub(super) fn arm(&self, on: bool) {
        self.state
            .armed
            .store(on, std::sync::atomic::Ordering::Relaxed);
        if on {
            self.state.wake.notify_one();
        }
    }

    pub(super) fn saw_packet(&self) {
        self.state
            .seen
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Nudger {
    fn drop(&mut self) {
        self.state
            .closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.state.wake.notify_one();
    }
}
