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

/// Runs `sql` (one or more statements) on a new connection to `url`, from any thread, async test
/// or not: on a thread of its own with a runtime of its own, so a caller driving a runtime is
/// never blocked inside it.
pub fn batch(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    let work = move || -> Result<(), tokio_postgres::Error> {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => panic!("cannot start a runtime for a test's SQL: {e}"),
        };
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            let driver = tokio::spawn(connection);
            let outcome = client.batch_execute(&sql).await;
            drop(client);
            let _ = driver.await;
            outcome
        })
    };
    match std::thread::spawn(work).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Whether the server answers; says once why not. Panics when it does not answer and
/// `CANDLEKEEP_TEST_REQUIRE_PG` is set.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| match batch(&server_url(), "SELECT 1") {
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
    })
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
    pub fn create() -> Result<Self, tokio_postgres::Error> {
        let name = unique_name("ck_test");
        batch(&server_url(), &format!("CREATE SCHEMA {name}"))?;
        let base = server_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Ok(Self { name, url })
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let _ = batch(&server_url(), &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

/// `url` with `user:password` in place of its own user info.
pub fn as_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}")
}

/// Runs statements as the test server's administrator (the URL's role).
fn admin_batch(sql: String) -> Result<(), tokio_postgres::Error> {
    batch(&server_url(), &sql)
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

/// A plain client of `url` whose connection runs on the current runtime: a test's own session
/// behind the store's back (holding locks, reading tables directly).
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped (or the server goes): nothing to report.
        let _ = connection.await;
    });
    Ok(client)
}
