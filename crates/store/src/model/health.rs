//! Health samples' columns: byte counts are unsigned in [`HealthSample`] and signed 64-bit in
//! both databases.

use crate::{HealthSample, StoreError};

/// A count as stored: one past `i64::MAX` (8 EiB) is never a real size, so it is capped there
/// rather than refused.
pub(crate) fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_db(n: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative {column} {n} in system_health")))
}

/// The columns of `HEALTH_HISTORY_SQL`, as each backend reads them.
pub(crate) struct HealthRow {
    pub at_ms: i64,
    pub cpu_pct: f64,
    pub mem_used: i64,
    pub mem_total: i64,
    pub disk_used: i64,
    pub disk_total: i64,
    pub rss: i64,
    pub freshness_lag_ms: Option<i64>,
    pub api_p99_ms: Option<f64>,
    pub api_requests: i64,
}

impl HealthRow {
    pub fn sample(self) -> Result<HealthSample, StoreError> {
        Ok(HealthSample {
            at_ms: self.at_ms,
            cpu_pct: self.cpu_pct,
            mem_used_bytes: from_db(self.mem_used, "mem_used_bytes")?,
            mem_total_bytes: from_db(self.mem_total, "mem_total_bytes")?,
            disk_used_bytes: from_db(self.disk_used, "disk_used_bytes")?,
            disk_total_bytes: from_db(self.disk_total, "disk_total_bytes")?,
            rss_bytes: from_db(self.rss, "rss_bytes")?,
            freshness_lag_ms: self.freshness_lag_ms,
            api_p99_ms: self.api_p99_ms,
            api_requests: from_db(self.api_requests, "api_requests")?,
        })
    }
}
