//! A venue's request-weight window, 429s and bans, as Binance enforces them per IP (OKX and Bybit
//! count requests, weight 1 each, in their own windows).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The limits a simulated venue enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LimitRules {
    pub weight_limit: u32,
    pub window: Duration,
    /// Requests after a 429 in the same window before the ban (0: the first excess bans).
    pub grace: u32,
    pub ban: Duration,
}

impl LimitRules {
    /// `limit` requests per `window`, answered with 429s beyond and never a ban.
    pub(crate) fn throttle(limit: u32, window: Duration) -> Self {
        Self {
            weight_limit: limit.max(1),
            window,
            grace: u32::MAX,
            ban: Duration::ZERO,
        }
    }
}

/// What the simulated venue has observed, for tests to assert on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    pub requests: u64,
    /// Responses 429 because the weight budget was exhausted (not injected storms).
    pub rejected_429: u64,
    /// Responses 418 (ban) of any kind.
    pub rejected_418: u64,
    /// Largest weight accepted within one window.
    pub max_window_weight: u32,
    pub weight_limit: u32,
}

/// What the window decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Accepted { used: u32 },
    TooMany { used: u32, retry_after: u64 },
    Banned { used: u32, retry_after: u64 },
}

pub(crate) struct WeightWindow {
    limit: u32,
    window_ms: u64,
    grace: u32,
    ban_ms: u64,
    current_window: u64,
    used: u32,
    requests_after_429: u32,
    over_in_window: bool,
    banned_until_ms: u64,
    stats: SimStats,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

impl WeightWindow {
    pub(crate) fn new(rules: LimitRules) -> Self {
        Self {
            limit: rules.weight_limit,
            window_ms: rules.window.as_millis().max(1) as u64,
            grace: rules.grace,
            ban_ms: rules.ban.as_millis() as u64,
            current_window: 0,
            used: 0,
            requests_after_429: 0,
            over_in_window: false,
            banned_until_ms: 0,
            stats: SimStats {
                weight_limit: rules.weight_limit,
                ..SimStats::default()
            },
        }
    }

    pub(crate) fn stats(&self) -> SimStats {
        self.stats
    }

    /// Counts one request of `weight` and decides whether it is served.
    pub(crate) fn admit(&mut self, weight: u32) -> Admission {
        let now = now_ms();
        self.stats.requests += 1;
        let window = now / self.window_ms;
        if window != self.current_window {
            self.current_window = window;
            self.used = 0;
            self.over_in_window = false;
            self.requests_after_429 = 0;
        }
        if now < self.banned_until_ms {
            self.stats.rejected_418 += 1;
            return Admission::Banned {
                used: self.used,
                retry_after: ceil_secs(self.banned_until_ms - now),
            };
        }
        let window_end = (window + 1) * self.window_ms;
        if self.over_in_window {
            self.requests_after_429 += 1;
            if self.requests_after_429 > self.grace {
                self.banned_until_ms = now + self.ban_ms;
                self.stats.rejected_418 += 1;
                return Admission::Banned {
                    used: self.used,
                    retry_after: ceil_secs(self.ban_ms),
                };
            }
        }
        if self.used + weight > self.limit {
            self.over_in_window = true;
            self.stats.rejected_429 += 1;
            return Admission::TooMany {
                used: self.used,
                retry_after: ceil_secs(window_end - now),
            };
        }
        self.used += weight;
        self.stats.max_window_weight = self.stats.max_window_weight.max(self.used);
        Admission::Accepted { used: self.used }
    }

    /// Bans the client now, as an injected fault (the request counts as seen).
    pub(crate) fn ban_for(&mut self, d: Duration) -> u64 {
        self.stats.requests += 1;
        self.banned_until_ms = now_ms() + d.as_millis() as u64;
        self.stats.rejected_418 += 1;
        ceil_secs(d.as_millis() as u64)
    }

    pub(crate) fn used(&self) -> u32 {
        self.used
    }
}
