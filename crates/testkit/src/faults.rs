//! Switchable faults of a simulated venue. Every fault is deterministic (driven by a request
//! counter or a time window), so a test that injects one gets the same run every time.

use std::time::Duration;

/// `len` consecutive requests out of every `period` (counted from the first request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    pub period: u64,
    pub len: u64,
}

impl Burst {
    pub fn hits(&self, request_no: u64) -> bool {
        self.period > 0 && request_no % self.period < self.len
    }
}

#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// 5xx answers (alternating 502 HTML from the proxy and 503 JSON from the venue).
    pub server_errors: Option<Burst>,
    /// 429 with Retry-After although the budget is not exhausted (a venue-side throttle).
    pub storm_429: Option<Burst>,
    /// A 200 whose body is not valid JSON.
    pub malformed: Option<Burst>,
    /// A 200 whose body is cut mid-stream (the connection drops).
    pub truncated: Option<Burst>,
    /// Delay before every answer.
    pub latency: Duration,
    /// Wall-clock window (epoch ms) during which every request gets a 503.
    pub outage: Option<(i64, i64)>,
    /// Bars that the venue does not have (epoch-ms open-time ranges, half-open), beyond the
    /// generator's own maintenance outages.
    pub missing: Vec<(i64, i64)>,
    /// Ban (418) on this request number, for this long.
    pub ban_at: Option<(u64, Duration)>,
    /// Bars served wrong (by open time, epoch ms), for the validation tests.
    pub bad_bars: Vec<(i64, BadBar)>,
}

/// How a bar is served wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BadBar {
    /// High below the open and close: impossible.
    HighBelowBody,
    /// A negative volume: impossible.
    NegativeVolume,
    /// The same row twice in the answer.
    Duplicate,
    /// Prices of this bar multiplied by `1 + pct/100`: possible, but a jump.
    Jump { pct: i64 },
}

impl Faults {
    /// The bar as the venue serves it, with its injected defect; `Duplicate` gives it twice.
    pub fn serve(&self, bar: crate::SimCandle) -> Vec<crate::SimCandle> {
        let Some((_, how)) = self.bad_bars.iter().find(|(t, _)| *t == bar.open_time_ms) else {
            return vec![bar];
        };
        let mut b = bar;
        match how {
            BadBar::HighBelowBody => b.high = b.open.min(b.close) - 1,
            BadBar::NegativeVolume => b.volume = -b.volume.max(1),
            BadBar::Duplicate => return vec![bar, bar],
            BadBar::Jump { pct } => {
                let scale = |v: i64| v + v * pct / 100;
                (b.open, b.high, b.low, b.close) = (scale(b.open), scale(b.high), scale(b.low), scale(b.close));
            }
        }
        vec![b]
    }
}
