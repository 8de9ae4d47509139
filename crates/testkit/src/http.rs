//! HTTP settings for tests against the simulated venues and scripted servers on 127.0.0.1.

use std::time::Duration;

use candlekeep_sources::http::HttpConfig;

/// The production HTTP settings with quick retries: `max_attempts` attempts per request, retry
/// backoff from `backoff_ms.0` to `backoff_ms.1` milliseconds, and all of one request's waits
/// within `max_total_wait` (the production budget when `None`). A fault then costs a test
/// milliseconds, not the production defaults' seconds.
///
/// The engine's backfill tests use `fast_http(8, (20, 200), None)`, its fallback tests
/// `fast_http(3, (10, 50), None)` (`fast_http(8, (10, 50), None)` to ride out fault bursts), the
/// HTTP layer's wait tests `fast_http(1, (10, 50), Some(budget))`.
pub fn fast_http(max_attempts: u32, backoff_ms: (u64, u64), max_total_wait: Option<Duration>) -> HttpConfig {
    let defaults = HttpConfig::default();
    HttpConfig {
        max_attempts,
        backoff_min: Duration::from_millis(backoff_ms.0),
        backoff_max: Duration::from_millis(backoff_ms.1),
        max_total_wait: max_total_wait.unwrap_or(defaults.max_total_wait),
        ..defaults
    }
}
