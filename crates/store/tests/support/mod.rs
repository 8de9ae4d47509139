//! Stores for the shared test-suite: a fresh SQLite database in memory, or a fresh schema of the
//! PostgreSQL server at `CANDLEKEEP_TEST_DATABASE_URL` (default
//! `postgres://candlekeep:candlekeep@127.0.0.1/candlekeep_test`). Without a reachable server
//! the PostgreSQL cases are skipped with a message, unless `CANDLEKEEP_TEST_REQUIRE_PG` is set
//! (CI sets it), in which case they fail.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use candlekeep_store::{PgStore, SqliteStore, Store};

pub const DEFAULT_URL: &str = "postgres://candlekeep:candlekeep@127.0.0.1/candlekeep_test";

pub fn server_url() -> String {
    std::env::var("CANDLEKEEP_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Whether the PostgreSQL server answers; says so once when it does not.
pub fn postgres_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| match postgres::Client::connect(&server_url(), postgres::NoTls) {
        Ok(_) => true,
        Err(e) => {
            if std::env::var_os("CANDLEKEEP_TEST_REQUIRE_PG").is_some() {
                panic!(
                    "CANDLEKEEP_TEST_REQUIRE_PG is set but PostgreSQL at {} is unreachable: {e}",
                    server_url()
                );
            }
            eprintln!(
                "skipping the PostgreSQL cases: no server at {} ({e}); set CANDLEKEEP_TEST_DATABASE_URL to run them",
                server_url()
            );
            false
        }
    })
}

/// A store under test; a PostgreSQL one drops its schema when done.
pub struct TestStore {
    store: Box<dyn Store>,
    schema: Option<String>,
}

impl Deref for TestStore {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl DerefMut for TestStore {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.store.as_mut()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(schema) = &self.schema
            && let Ok(mut c) = postgres::Client::connect(&server_url(), postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// A new empty schema on the server, and the URL that makes it the connection's search path.
pub fn fresh_schema() -> (String, String) {
    static N: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "ck_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut c = postgres::Client::connect(&server_url(), postgres::NoTls).unwrap();
    c.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
    let sep = if server_url().contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options=-c%20search_path%3D{schema}", server_url());
    (schema, url)
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
                schema: None,
            }),
            Backend::Postgres => {
                if !postgres_available() {
                    return None;
                }
                let (schema, url) = fresh_schema();
                Some(TestStore {
                    store: Box::new(PgStore::connect(&url).unwrap()),
                    schema: Some(schema),
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
