//! The service's health: a sample every minute of the machine (CPU, memory, disk), the process
//! (resident memory), the data (how old the stalest series' newest bar is) and the API (p99
//! latency and requests since the last sample), stored in `system_health`.
//!
//! [`ApiLatency`] is where the HTTP layer counts its requests: a fixed set of log-spaced
//! buckets of atomic counters, so recording a request takes no lock, and a sample takes the
//! minute's counts and starts the next minute from zero.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use candlekeep_core::time::now_ms;
use candlekeep_store::{CandleRead, HealthLog, HealthSample};

use crate::jobs::{JobContext, Outcome};

/// Upper bounds of the latency buckets, in microseconds: 50 µs to about 52 s, each 1.25 times
/// the last (the p99 read off them is at most 25 % high).
const BUCKETS: usize = 63;

fn bucket_bound_us(i: usize) -> f64 {
    50.0 * 1.25f64.powi(i as i32)
}

/// Requests and their latency since the last sample.
#[derive(Debug)]
pub struct ApiLatency {
    counts: [AtomicU64; BUCKETS + 1],
}

impl Default for ApiLatency {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl ApiLatency {
    /// Counts one request that took `latency`.
    pub fn record(&self, latency: Duration) {
        let us = latency.as_secs_f64() * 1e6;
        let i = (0..BUCKETS).find(|&i| us <= bucket_bound_us(i)).unwrap_or(BUCKETS);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests since the last take and their p99 in milliseconds (the bound of the bucket it
    /// falls in; `None` without requests); counting starts again from zero.
    pub fn take(&self) -> (u64, Option<f64>) {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.swap(0, Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return (0, None);
        }
        // The smallest bucket holding at least 99 % of the requests.
        let wanted = total - total / 100;
        let mut seen = 0;
        for (i, n) in counts.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                let bound_us = if i < BUCKETS {
                    bucket_bound_us(i)
                } else {
                    bucket_bound_us(BUCKETS - 1)
                };
                return (total, Some(bound_us / 1000.0));
            }
        }
        (total, None)
    }
}

/// What the health job keeps between samples: the system probe (CPU use is measured between
/// two refreshes) and the API's counters.
#[derive(Debug, Default)]
pub struct Health {
    system: Mutex<Option<sysinfo::System>>,
    pub api: Arc<ApiLatency>,
}

/// The machine and the process, read by `sysinfo` (on a blocking thread: it reads files).
fn read_system(health: &Health, data_dir: Option<std::path::PathBuf>) -> SystemReading {
    use sysinfo::{Disks, ProcessRefreshKind, ProcessesToUpdate, System};
    let mut guard = health.system.lock().unwrap_or_else(PoisonError::into_inner);
    let system = guard.get_or_insert_with(System::new);
    system.refresh_cpu_usage();
    system.refresh_memory();
    let pid = sysinfo::get_current_pid().ok();
    if let Some(pid) = pid {
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_memory(),
        );
    }
    let rss = pid.and_then(|p| system.process(p)).map_or(0, |p| p.memory());
    // The disk holding the database (SQLite) or the working folder: the longest mount point
    // the path is under.
    let path = data_dir
        .or_else(|| std::env::current_dir().ok())
        .and_then(|p| p.canonicalize().ok())
        .unwrap_or_else(|| std::path::PathBuf::from("/"));
    let disks = Disks::new_with_refreshed_list();
    let disk = disks
        .list()
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len());
    SystemReading {
        cpu_pct: f64::from(system.global_cpu_usage()),
        mem_used: system.used_memory(),
        mem_total: system.total_memory(),
        disk_used: disk.map_or(0, |d| d.total_space().saturating_sub(d.available_space())),
        disk_total: disk.map_or(0, |d| d.total_space()),
        rss,
    }
}

struct SystemReading {
    cpu_pct: f64,
    mem_used: u64,
    mem_total: u64,
    disk_used: u64,
    disk_total: u64,
    rss: u64,
}

/// The health job: one sample, stored.
pub async fn sample(ctx: &JobContext) -> Result<Outcome> {
    let health = ctx.health.clone();
    let data_dir = match candlekeep_store::url::DatabaseUrl::parse(&ctx.config.database.url) {
        Ok(candlekeep_store::url::DatabaseUrl::Sqlite(p)) => p.parent().map(std::path::Path::to_path_buf),
        _ => None,
    };
    let system = tokio::task::spawn_blocking(move || read_system(&health, data_dir))
        .await
        .context("reading the system's health")?;
    let at_ms = now_ms();
    let freshness_lag_ms = ctx
        .store
        .freshness()
        .await?
        .iter()
        .map(|(_, _, close_ms)| at_ms - close_ms)
        .max();
    let (api_requests, api_p99_ms) = ctx.health.api.take();
    let sample = HealthSample {
        at_ms,
        cpu_pct: system.cpu_pct,
        mem_used_bytes: system.mem_used,
        mem_total_bytes: system.mem_total,
        disk_used_bytes: system.disk_used,
        disk_total_bytes: system.disk_total,
        rss_bytes: system.rss,
        freshness_lag_ms,
        api_p99_ms,
        api_requests,
    };
    ctx.store.record_health(sample.clone()).await?;
    Ok(Outcome::ok(1, serde_json::to_value(&sample).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_bucket_that_holds_ninety_nine_percent() {
        let api = ApiLatency::default();
        assert_eq!(api.take(), (0, None));
        for _ in 0..990 {
            api.record(Duration::from_micros(100));
        }
        for _ in 0..10 {
            api.record(Duration::from_millis(40));
        }
        let (n, p99) = api.take();
        assert_eq!(n, 1000);
        let p99 = p99.unwrap_or(f64::NAN);
        assert!((0.1..=0.125).contains(&p99), "p99 {p99} ms");
        // Taken: the next minute starts from zero.
        assert_eq!(api.take(), (0, None));
        api.record(Duration::from_secs(600));
        let (_, p99) = api.take();
        assert!(p99.unwrap_or(0.0) > 10_000.0);
    }
}
