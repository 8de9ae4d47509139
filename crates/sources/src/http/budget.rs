//! A venue's request-weight budget: a fixed window aligned to the clock (Binance counts weight
//! per calendar minute), kept by reserving weight before each request, corrected upwards by the
//! venue's own used-weight header, and paused outright when the venue says to wait.

use std::{
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::time::Instant;

#[derive(Debug)]
struct State {
    window: i64,
    used: u32,
    paused_until: Option<Instant>,
}

#[derive(Debug)]
pub struct WeightBudget {
    limit: u32,
    window_ms: i64,
    state: Mutex<State>,
}

/// The longest pause the budget keeps (a week): longer waits end in an error before this.
pub const MAX_PAUSE: Duration = Duration::from_secs(7 * 86_400);

/// Sent a little after the window turns, so that a venue clock slightly behind ours has turned too.
const TURN_MARGIN_MS: i64 = 50;

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl WeightBudget {
    /// `limit` weight per `window` (Binance spot: 6000 per minute).
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window_ms: (window.as_millis() as i64).max(1),
            state: Mutex::new(State {
                window: 0,
                used: 0,
                paused_until: None,
            }),
        }
    }

    /// Waits until `weight` fits in the current window (and no pause is in force), reserves it
    /// and returns the window it was reserved in.
    pub async fn acquire(&self, weight: u32) -> i64 {
        let weight = weight.min(self.limit);
        loop {
            let wait = {
                let mut s = match self.state.lock() {
                    Ok(s) => s,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let now = wall_ms();
                let window = now.div_euclid(self.window_ms);
                if window != s.window {
                    s.window = window;
                    s.used = 0;
                }
                match s.paused_until {
                    Some(until) if until > Instant::now() => until - Instant::now(),
                    _ if s.used + weight <= self.limit => {
                        s.used += weight;
                        return window;
                    }
                    _ => {
                        let next = (window + 1) * self.window_ms + TURN_MARGIN_MS;
                        Duration::from_millis((next - now).max(1) as u64)
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The venue reports `used` weight in the window the request was sent in: trust the larger
    /// figure (other programs on this IP spend the same budget).
    pub fn observe(&self, window: i64, used: u32) {
        if let Ok(mut s) = self.state.lock()
            && s.window == window
            && used > s.used
        {
            s.used = used.min(self.limit);
        }
    }

    /// No request at all until `d` has passed (429 Retry-After, 418 ban). A pause is at most
    /// [`MAX_PAUSE`]: a venue's figure must never overflow the clock.
    pub fn pause(&self, d: Duration) {
        if let Ok(mut s) = self.state.lock() {
            let now = Instant::now();
            let until = now.checked_add(d.min(MAX_PAUSE)).unwrap_or(now);
            s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reserves_up_to_the_limit_then_waits_for_the_next_window() {
        let b = WeightBudget::new(10, Duration::from_millis(200));
        let first = b.acquire(4).await;
        let same = b.acquire(6).await;
        let t = Instant::now();
        let next = b.acquire(1).await;
        assert!(next > first && same == first || next > same);
        assert!(t.elapsed() > Duration::ZERO);
    }

    /// Issue 12 item 9: `Retry-After: 18446744073709551615` used to panic here (`Instant + d`).
    #[test]
    fn an_endless_pause_does_not_overflow_the_clock() {
        let b = WeightBudget::new(1, Duration::from_secs(1));
        b.pause(Duration::MAX);
        b.pause(Duration::from_secs(u64::MAX));
    }

    #[tokio::test]
    async fn header_and_pause_hold_requests_back() {
        let b = WeightBudget::new(100, Duration::from_secs(3600));
        let w = b.acquire(1).await;
        b.observe(w, 100);
        let t = Instant::now();
        b.pause(Duration::from_millis(120));
        let held = tokio::time::timeout(Duration::from_millis(60), b.acquire(1)).await;
        assert!(held.is_err(), "paused and full budget must hold the request");
        assert!(t.elapsed() >= Duration::from_millis(60));
    }
}
