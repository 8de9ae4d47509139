//! Stores for the shared test-suite, as the tasks see them: a [`StoreHandle`] on a fresh SQLite
//! database (in memory: the writer only; in a file: the writer and its read-only WAL readers), or
//! on a fresh schema of the test PostgreSQL server (see `candlekeep_testkit::pg`; skipped with a
//! message when there is none, unless `CANDLEKEEP_TEST_REQUIRE_PG` is set).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ops::Deref;
use std::path::PathBuf;

use candlekeep_core::validate::FlagRules;
use candlekeep_core::{Candle, Market, Provenance, SourceId, Timeframe};
use candlekeep_store::{PgOptions, SqliteStore, StoreHandle};
use candlekeep_testkit::SimMarket;
use candlekeep_testkit::pg::TestSchema;
pub use candlekeep_testkit::pg::available as postgres_available;

pub const H: i64 = 3_600_000;
pub const T0: i64 = 1_700_000_000_000 / H * H;

/// Connections a PostgreSQL test handle keeps (calls in flight at once).
pub const PG_CONNECTIONS: usize = 4;

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

/// A store under test: derefs to its [`StoreHandle`]. A file-backed one deletes its directory and
/// a PostgreSQL one drops its schema when done.
pub struct TestStore {
    // Declared first: the handle closes its connections before the file or schema goes.
    handle: StoreHandle,
    dir: Option<tempfile::TempDir>,
    schema: Option<TestSchema>,
}

impl Deref for TestStore {
    type Target = StoreHandle;
    fn deref(&self) -> &StoreHandle {
        &self.handle
    }
}

impl TestStore {
    /// Another clone of the handle (for spawned tasks).
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// The SQLite file, for a connection of its own behind the store's back.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("ck.db"))
    }

    /// The PostgreSQL schema, for a connection of its own behind the store's back.
    pub fn pg_schema(&self) -> Option<&str> {
        self.schema.as_ref().map(|s| s.name.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// In memory: every call on the one writing connection.
    Sqlite,
    /// A file: writes on the writer, reads on read-only WAL connections.
    SqliteFile,
    Postgres,
}

impl Backend {
    /// A fresh empty store, or `None` when this backend cannot run here.
    pub async fn store(self) -> Option<TestStore> {
        match self {
            Backend::Sqlite => Some(TestStore {
                handle: StoreHandle::in_memory().unwrap(),
                dir: None,
                schema: None,
            }),
            Backend::SqliteFile => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("ck.db");
                let handle = blocking(move || StoreHandle::sqlite(SqliteStore::open(&path).unwrap()).unwrap()).await;
                Some(TestStore {
                    handle,
                    dir: Some(dir),
                    schema: None,
                })
            }
            Backend::Postgres => {
                if !blocking(postgres_available).await {
                    return None;
                }
                let schema = blocking(|| TestSchema::create().unwrap()).await;
                let options = PgOptions {
                    pool_size: PG_CONNECTIONS as u32,
                    ..PgOptions::default()
                };
                let handle = StoreHandle::postgres(&schema.url, options, FlagRules::default())
                    .await
                    .unwrap();
                Some(TestStore {
                    handle,
                    dir: None,
                    schema: Some(schema),
                })
            }
        }
    }

    /// The store of a backend that must run here (PostgreSQL only when the test checked
    /// [`postgres_available`]).
    pub async fn open(self) -> TestStore {
        self.store().await.expect("this backend runs here")
    }
}

/// Runs blocking set-up (connecting, creating a schema) on the blocking pool.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Runs an async test body to its end from synchronous code (a proptest case).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs each named async test function (taking a `Backend`) once per backend: SQLite in memory,
/// SQLite in a file (reads on its WAL readers) and PostgreSQL (when the server answers).
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::Backend::Sqlite).await } )*
        }
        mod sqlite_file {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::Backend::SqliteFile).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if super::support::blocking(super::support::postgres_available).await {
                    super::$name(super::support::Backend::Postgres).await
                }
            } )*
        }
    };
}
