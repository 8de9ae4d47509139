//! Per-venue counts of rate-limit pauses and IP bans, for the service's `/metrics`.
//!
//! Process-wide because a venue's clients are built in many places (each job builds its chain)
//! while the counts describe the venue: every client of one venue shares one pair of atomic
//! counters, looked up once when the client is built, so counting takes no lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// One venue's counters.
#[derive(Debug, Default)]
pub(crate) struct VenueCounters {
    pauses: AtomicU64,
    bans: AtomicU64,
}

impl VenueCounters {
    /// A 429 (or a rate-limit code in a body) paused the venue.
    pub(crate) fn paused(&self) {
        self.pauses.fetch_add(1, Ordering::Relaxed);
    }

    /// The venue answered with an IP ban (waited out or given up on).
    pub(crate) fn banned(&self) {
        self.bans.fetch_add(1, Ordering::Relaxed);
    }
}

fn registry() -> &'static Mutex<BTreeMap<String, Arc<VenueCounters>>> {
    static REGISTRY: OnceLock<Mutex<BTreeMap<String, Arc<VenueCounters>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The counters of `venue`, created on first use.
pub(crate) fn counters(venue: &str) -> Arc<VenueCounters> {
    registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(venue.to_owned())
        .or_default()
        .clone()
}

/// Rate-limit pauses and bans of one venue since the process started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitStats {
    pub venue: String,
    pub pauses: u64,
    pub bans: u64,
}

/// Every venue a client was built for in this process, by name.
pub fn rate_limit_stats() -> Vec<RateLimitStats> {
    registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(venue, c)| RateLimitStats {
            venue: venue.clone(),
            pauses: c.pauses.load(Ordering::Relaxed),
            bans: c.bans.load(Ordering::Relaxed),
        })
        .collect()
}
