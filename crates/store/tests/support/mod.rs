//! Stores for the shared test-suite: a fresh SQLite database in memory, or a fresh schema of the
//! test PostgreSQL server (see `candlekeep_testkit::pg`; skipped with a message when there is
//! none, unless `CANDLEKEEP_TEST_REQUIRE_PG` is set).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ops::{Deref, DerefMut};

use candlekeep_core::{Candle, Market, Provenance, SourceId, Timeframe};
use candlekeep_store::{BlockingStore, PgStore, SqliteStore};
use candlekeep_testkit::SimMarket;
use candlekeep_testkit::pg::TestSchema;
pub use candlekeep_testkit::pg::available as postgres_available;

pub const H: i64 = 3_600_000;
pub const T0: i64 = 1_700_000_000_000 / H * H;

/// `n` hourly spot BTCUSDT bars from `T0`, without outages.
pub fn sim(n: usize) -> Vec<Candle> {
    SimMarket::new(9)
        .with_outages(false)
        .candles(Market::Spot, "BTCUSDT", Timeframe::H1, T0, T0 + n as i64 * H)
        .iter()
        .map(|c| c.to_candle())
        .collect()
}

pub fn prov(source: SourceId, at: i64) -> Provenance {
    Provenance {
        source,
        fetched_at_ms: at,
    }
}

/// A store under test; a PostgreSQL one drops its schema when done.
pub struct TestStore {
    // Declared first: the store closes its connections before the schema is dropped.
    store: Box<dyn BlockingStore>,
    _schema: Option<TestSchema>,
}

impl Deref for TestStore {
    type Target = dyn BlockingStore;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl DerefMut for TestStore {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.store.as_mut()
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A fresh empty store, or `None` when this backend cannot run here.
    pub fn store(self) -> Option<TestStore> {
        match self {
            Backend::Sqlite => Some(TestStore {
                store: Box::new(SqliteStore::in_memory().unwrap()),
                _schema: None,
            }),
            Backend::Postgres => {
                if !postgres_available() {
                    return None;
                }
                let schema = TestSchema::create().unwrap();
                Some(TestStore {
                    store: Box::new(PgStore::connect(&schema.url).unwrap()),
                    _schema: Some(schema),
                })
            }
        }
    }
}

/// Runs each named test function (taking a `Backend`) once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::support::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                if super::support::postgres_available() { super::$name(super::support::Backend::Postgres) }
            } )*
        }
    };
}
