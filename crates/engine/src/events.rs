//! What the service tells its listeners as it works (the API's server-sent events, the
//! dashboard, alerts): a job started or ended, new candles were stored.
//!
//! [`EventBus`] is a broadcast channel: every listener gets every event sent after it
//! subscribed; one that falls more than [`CAPACITY`] events behind loses the oldest ones (and is
//! told how many) instead of holding the senders back.

use serde::Serialize;
use tokio::sync::broadcast;

/// Events a listener may fall behind by before it loses the oldest.
pub const CAPACITY: usize = 1024;

/// One event. Serialized with a `type` field naming its kind (`job-started`, `job-finished`,
/// `candles-stored`), every time in epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// A run began (its `job_runs` row exists).
    JobStarted { id: i64, job: String, at_ms: i64 },
    /// A run ended: `ok`, `failed` or `interrupted`.
    JobFinished {
        id: i64,
        job: String,
        status: String,
        rows_written: u64,
        /// Candles written per source.
        written_by: std::collections::BTreeMap<String, u64>,
        error: Option<String>,
        at_ms: i64,
        duration_ms: i64,
    },
    /// A run stored `bars` new or revised bars of one series (`job_id` 0: a unit of the
    /// PostgreSQL work queue, which belongs to whichever run queued it).
    CandlesStored {
        instrument: String,
        timeframe: String,
        bars: u64,
        job_id: i64,
        at_ms: i64,
    },
}

impl Event {
    /// The SSE event name: the `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::JobStarted { .. } => "job-started",
            Self::JobFinished { .. } => "job-finished",
            Self::CandlesStored { .. } => "candles-stored",
        }
    }
}

/// The sending side, cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }

    /// Sends to every current listener (none listening is not an error).
    pub fn send(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    /// A listener of every event sent from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_get_what_was_sent_after_they_subscribed() {
        let bus = EventBus::new();
        bus.send(Event::JobStarted {
            id: 1,
            job: "sync".into(),
            at_ms: 0,
        });
        let mut rx = bus.subscribe();
        let ev = Event::JobStarted {
            id: 2,
            job: "sync".into(),
            at_ms: 5,
        };
        bus.send(ev.clone());
        assert_eq!(rx.recv().await.ok(), Some(ev.clone()));
        let json = serde_json::to_value(&ev).ok();
        assert_eq!(json.as_ref().and_then(|j| j["type"].as_str()), Some("job-started"));
        assert_eq!(ev.kind(), "job-started");
    }
}
