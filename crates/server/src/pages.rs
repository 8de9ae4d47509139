//! Candle pages recently served, kept as the bytes that went out: a dashboard or a notebook
//! asking for the same year of bars again gets them without a read, a source lookup and a
//! serialization of 8,760 rows each time.
//!
//! A kept page is served only while nothing was written to its series since it was read: the
//! event listener counts writes per series (`candles-stored`) and for the whole store (a job
//! that stored rows without naming the series: a repair, a retention run; missed events), and
//! a page carries the counts it was read at. Writers this process does not hear of (another
//! process on a shared PostgreSQL database, a command-line import into the same SQLite file)
//! are covered by age: a page older than [`FRESH`] is still served once more while one request
//! reads it again in the background, so its answers are at most about a second behind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// Age after which a kept page is read again (in the background).
pub(crate) const FRESH: Duration = Duration::from_secs(1);

/// Longest a page is kept unasked.
const KEEP: Duration = Duration::from_secs(300);

/// Memory the kept pages may take.
const CAPACITY_BYTES: u64 = 64 << 20;

/// A page as it goes out.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub body: Bytes,
    pub headers: HeaderMap,
}

impl Page {
    pub fn to_response(&self) -> Response {
        let mut response = self.body.clone().into_response();
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// Which request a page answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    /// Path and query as sent.
    pub uri: String,
    pub csv: bool,
}

/// A series: instrument and timeframe, as written in events.
pub(crate) type Series = (String, String);

/// The write counts a page was read at: the store's and its series'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marks {
    store: u64,
    series: u64,
}

/// A kept page.
#[derive(Debug)]
pub(crate) struct Kept {
    pub page: Page,
    marks: Marks,
    read_at: Instant,
    refreshing: AtomicBool,
}

impl Kept {
    /// True for the one caller that should read the page again: it is older than [`FRESH`] and
    /// no other request is reading it.
    pub fn wants_refresh(&self) -> bool {
        self.read_at.elapsed() >= FRESH && self.claim_refresh()
    }

    /// True for the one caller that reads the page again; the others keep serving this one
    /// meanwhile (and a failed read gives the turn back with [`Kept::refresh_failed`]).
    pub fn claim_refresh(&self) -> bool {
        !self.refreshing.swap(true, Ordering::AcqRel)
    }

    pub fn refresh_failed(&self) {
        self.refreshing.store(false, Ordering::Release);
    }
}

/// What is kept for a request.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Nothing was written to its series since it was read.
    Current(Arc<Kept>),
    /// Its series was written since: one request reads it again while the others get this one.
    Outdated(Arc<Kept>),
    Missing,
}

#[derive(Debug)]
pub(crate) struct PageCache {
    pages: moka::sync::Cache<PageKey, Arc<Kept>>,
    store_writes: AtomicU64,
    series_writes: RwLock<HashMap<Series, u64>>,
}

impl Default for PageCache {
    fn default() -> Self {
        Self {
            pages: moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|k: &PageKey, p: &Arc<Kept>| {
                    u32::try_from(p.page.body.len() + k.uri.len()).unwrap_or(u32::MAX)
                })
                .time_to_idle(KEEP)
                .build(),
            store_writes: AtomicU64::new(0),
            series_writes: RwLock::new(HashMap::new()),
        }
    }
}

impl PageCache {
    /// Candles of `series` were stored.
    pub fn series_written(&self, series: Series) {
        *self
            .series_writes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(series)
            .or_default() += 1;
    }

    /// Rows were stored without the series being named: every page is out of date.
    pub fn store_written(&self) {
        self.store_writes.fetch_add(1, Ordering::AcqRel);
    }

    /// The write counts of `series` now; read them before reading the page.
    pub fn marks(&self, series: &Series) -> Marks {
        Marks {
            store: self.store_writes.load(Ordering::Acquire),
            series: self
                .series_writes
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(series)
                .copied()
                .unwrap_or(0),
        }
    }

    /// The kept answer to `key`, if nothing was written to `series` since it was read.
    #[cfg(test)]
    pub fn get(&self, key: &PageKey, series: &Series) -> Option<Arc<Kept>> {
        match self.lookup(key, series) {
            Lookup::Current(kept) => Some(kept),
            _ => None,
        }
    }

    /// The kept answer to `key`, current or not.
    pub fn lookup(&self, key: &PageKey, series: &Series) -> Lookup {
        match self.pages.get(key) {
            None => Lookup::Missing,
            Some(kept) if kept.marks == self.marks(series) => Lookup::Current(kept),
            Some(kept) => Lookup::Outdated(kept),
        }
    }

    /// Keeps `page`, read at `marks`. A page read before a write that it is put after is never
    /// served: its marks are behind.
    pub fn put(&self, key: PageKey, series: &Series, marks: Marks, page: Page) {
        if marks != self.marks(series) {
            return;
        }
        self.pages.insert(
            key,
            Arc::new(Kept {
                page,
                marks,
                read_at: Instant::now(),
                refreshing: AtomicBool::new(false),
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Page {
        Page {
            body: Bytes::from_static(b"[]"),
            headers: HeaderMap::new(),
        }
    }

    fn key(uri: &str, csv: bool) -> PageKey {
        PageKey { uri: uri.into(), csv }
    }

    #[test]
    fn a_write_to_its_series_or_the_store_hides_a_page() {
        let cache = PageCache::default();
        let btc: Series = ("spot:BTCUSDT".into(), "1h".into());
        let eth: Series = ("spot:ETHUSDT".into(), "1h".into());
        let m = cache.marks(&btc);
        cache.put(key("/a?x=1", false), &btc, m, page());
        assert!(cache.get(&key("/a?x=1", false), &btc).is_some());
        assert!(cache.get(&key("/a?x=1", true), &btc).is_none(), "CSV is another page");
        assert!(cache.get(&key("/a?x=2", false), &btc).is_none());
        // Another series' write leaves it; its own hides it.
        cache.series_written(eth);
        assert!(cache.get(&key("/a?x=1", false), &btc).is_some());
        cache.series_written(btc.clone());
        assert!(cache.get(&key("/a?x=1", false), &btc).is_none());
        // Outdated: one request reads it again, the others meanwhile get the old page.
        match cache.lookup(&key("/a?x=1", false), &btc) {
            Lookup::Outdated(kept) => {
                assert!(kept.claim_refresh());
                assert!(!kept.claim_refresh());
            }
            other => panic!("expected outdated, got {other:?}"),
        }
        // A page read before a write and put after it is not kept.
        cache.put(key("/a?x=1", false), &btc, m, page());
        assert!(cache.get(&key("/a?x=1", false), &btc).is_none());
        let m = cache.marks(&btc);
        cache.put(key("/a?x=1", false), &btc, m, page());
        cache.store_written();
        assert!(cache.get(&key("/a?x=1", false), &btc).is_none());
    }

    #[test]
    fn only_one_request_refreshes_an_old_page() {
        let cache = PageCache::default();
        let btc: Series = ("spot:BTCUSDT".into(), "1h".into());
        let m = cache.marks(&btc);
        cache.put(key("/a", false), &btc, m, page());
        let kept = cache.get(&key("/a", false), &btc).unwrap_or_else(|| unreachable!());
        assert!(!kept.wants_refresh(), "fresh");
        std::thread::sleep(FRESH + Duration::from_millis(20));
        assert!(kept.wants_refresh());
        assert!(!kept.wants_refresh(), "one refresh at a time");
    }
}
