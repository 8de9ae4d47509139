//! Candle pages recently served, kept as the bytes that went out: a dashboard or a notebook
//! asking for the same year of bars again gets them without a read, a source lookup and a
//! serialization of 8,760 rows each time.
//!
//! A page is keyed by the request (path, query, format) and by the store's write generation,
//! which the event listener moves on whenever candles are stored (a sync, a backfill, a repair,
//! a retention run): after a write no page from before it is served. Writers this process does
//! not hear of (another process on a shared PostgreSQL database, a command-line import into
//! the same SQLite file) are covered by the pages' short life, [`PAGE_TTL`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;

/// How long a page is served from memory at most.
pub(crate) const PAGE_TTL: Duration = Duration::from_secs(1);

/// Memory the kept pages may take.
const CAPACITY_BYTES: u64 = 64 << 20;

/// A page as it went out.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub body: Bytes,
    pub headers: HeaderMap,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    generation: u64,
    csv: bool,
    uri: String,
}

#[derive(Debug)]
pub(crate) struct PageCache {
    pages: moka::sync::Cache<Key, Page>,
    generation: AtomicU64,
}

impl Default for PageCache {
    fn default() -> Self {
        Self {
            pages: moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|k: &Key, p: &Page| u32::try_from(p.body.len() + k.uri.len()).unwrap_or(u32::MAX))
                .time_to_live(PAGE_TTL)
                .build(),
            generation: AtomicU64::new(0),
        }
    }
}

impl PageCache {
    /// Candles were stored: no page from before is served again.
    pub fn written(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    fn key(&self, uri: &str, csv: bool) -> Key {
        Key {
            generation: self.generation.load(Ordering::Relaxed),
            csv,
            uri: uri.to_owned(),
        }
    }

    pub fn get(&self, uri: &str, csv: bool) -> Option<Page> {
        self.pages.get(&self.key(uri, csv))
    }

    /// Keeps a page read at `generation` (read before the page was: a write in between makes
    /// the key one no request asks for any more).
    pub fn put(&self, generation: u64, uri: &str, csv: bool, page: Page) {
        let key = Key {
            generation,
            csv,
            uri: uri.to_owned(),
        };
        self.pages.insert(key, page);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_hides_every_page_from_before_it() {
        let cache = PageCache::default();
        let page = Page {
            body: Bytes::from_static(b"[]"),
            headers: HeaderMap::new(),
        };
        let g = cache.generation();
        cache.put(g, "/a?x=1", false, page.clone());
        assert!(cache.get("/a?x=1", false).is_some());
        assert!(cache.get("/a?x=1", true).is_none(), "CSV is another page");
        assert!(cache.get("/a?x=2", false).is_none());
        cache.written();
        assert!(cache.get("/a?x=1", false).is_none());
        // A page read before a write, put after it, is never served.
        cache.put(g, "/a?x=1", false, page);
        assert!(cache.get("/a?x=1", false).is_none());
    }
}
