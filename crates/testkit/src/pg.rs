//! A PostgreSQL server for tests: at `CANDLEKEEP_TEST_DATABASE_URL` (default
//! `postgres://candlekeep:candlekeep@127.0.0.1/candlekeep_test`), one fresh schema per test.
//! Without a reachable server, tests that need one skip with a message, unless
//! `CANDLEKEEP_TEST_REQUIRE_PG` is set (CI sets it): then they fail.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub const DEFAULT_URL: &str = "postgres://candlekeep:candlekeep@127.0.0.1/candlekeep_test";

pub fn server_url() -> String {
    std::env::var("CANDLEKEEP_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Runs the blocking client on its own thread: it cannot run on one driving an async test.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Whether the server answers; says once why not. Panics when it does not answer and
/// `CANDLEKEEP_TEST_REQUIRE_PG` is set.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(
        || match on_thread(|| postgres::Client::connect(&server_url(), postgres::NoTls).map(drop)) {
            Ok(()) => true,
            Err(e) => {
                let msg = format!("PostgreSQL at {} is unreachable ({e})", server_url());
                assert!(
                    std::env::var_os("CANDLEKEEP_TEST_REQUIRE_PG").is_none(),
                    "CANDLEKEEP_TEST_REQUIRE_PG is set but {msg}"
                );
                eprintln!("skipping the PostgreSQL cases: {msg}; set CANDLEKEEP_TEST_DATABASE_URL to run them");
                false
            }
        },
    )
}

/// A name no other test of any process on this server uses: `prefix`, the process id, a counter
/// and the clock's nanoseconds (schemas, roles and databases of tests running side by side).
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new empty schema, dropped with everything in it when this goes out of scope.
#[derive(Debug)]
pub struct TestSchema {
    pub name: String,
    /// The server URL with this schema as the search path.
    pub url: String,
}

impl TestSchema {
    pub fn create() -> Result<Self, postgres::Error> {
        let name = unique_name("ck_test");
        let create = format!("CREATE SCHEMA {name}");
        on_thread(move || postgres::Client::connect(&server_url(), postgres::NoTls)?.batch_execute(&create))?;
        let base = server_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Ok(Self { name, url })
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let drop_schema = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let _ =
            on_thread(move || postgres::Client::connect(&server_url(), postgres::NoTls)?.batch_execute(&drop_schema));
    }
}

/// `url` with `user:password` in place of its own user info.
pub fn as_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}")
}

/// Runs statements as the test server's administrator (the URL's role).
fn admin_batch(sql: String) -> Result<(), postgres::Error> {
    on_thread(move || postgres::Client::connect(&server_url(), postgres::NoTls)?.batch_execute(&sql))
}

/// A login role that may read the tables of `schema` and nothing else, dropped when this goes
/// out of scope. Its sessions are read-only too, as on a standby: any write fails at once.
pub struct ReadOnlyRole {
    pub name: String,
}

impl ReadOnlyRole {
    pub fn create(schema: &str) -> Self {
        // Roles are cluster-wide: the name must not meet another test's.
        let name = unique_name("ck_reader");
        admin_batch(format!(
            "CREATE ROLE {name} LOGIN PASSWORD 'reader'; \
                 ALTER ROLE {name} SET default_transaction_read_only = on; \
                 GRANT USAGE ON SCHEMA {schema} TO {name}; \
                 GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {name};"
        ))
        .unwrap_or_else(|e| panic!("creating a read-only role: {e}"));
        Self { name }
    }
}

impl Drop for ReadOnlyRole {
    fn drop(&mut self) {
        let name = &self.name;
        // Its grants go first (DROP OWNED), or the schema's objects keep the role alive.
        let _ = admin_batch(format!("DROP OWNED BY {name}; DROP ROLE IF EXISTS {name}"));
    }
}
