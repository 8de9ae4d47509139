//! The TimescaleDB compression policy as opening a store sets it, against a stand-in for
//! TimescaleDB (CI has none): a database of its own whose `timescaledb_information` views are
//! tables and whose `add_compression_policy` / `remove_compression_policy` are PL/pgSQL functions
//! that behave like the real ones (one policy per hypertable, `42710` for a second one without
//! `if_not_exists`) and log every call. `pg_extension` and `pg_available_extensions` are shadowed
//! by tables of the same names earlier on the search path, so the store sees an installed 2.14.
//!
//! What is checked: processes opening together set the policy once and never fail; opening
//! again with the same settings touches nothing (no new job compressing at once); a changed
//! setting replaces it once; a role that may only read opens even when its settings differ.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use candlekeep_store::postgres::{PgOptions, Timescale};
use candlekeep_store::{CandleRead, PgStore};
use candlekeep_testkit::pg::{self, server_url, unique_name};
use support::{blocking, postgres_available};

const STAND_IN: &str = r#"
CREATE SCHEMA app;
CREATE SCHEMA ts;
CREATE TABLE ts.pg_extension (extname name, extversion text);
INSERT INTO ts.pg_extension VALUES ('timescaledb', '2.14.2');
CREATE TABLE ts.pg_available_extensions (name name);
INSERT INTO ts.pg_available_extensions VALUES ('timescaledb');
CREATE TABLE ts.calls (n serial PRIMARY KEY, call text NOT NULL);
CREATE SCHEMA timescaledb_information;
CREATE TABLE timescaledb_information.hypertables (hypertable_schema name, hypertable_name name);
INSERT INTO timescaledb_information.hypertables VALUES ('app', 'candles');
CREATE TABLE timescaledb_information.jobs (
    job_id serial PRIMARY KEY, proc_name name, hypertable_schema name, hypertable_name name, config jsonb,
    UNIQUE (proc_name, hypertable_schema, hypertable_name));
CREATE FUNCTION ts.add_compression_policy(hypertable regclass, compress_after bigint, if_not_exists boolean DEFAULT false)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE s name; t name; id integer;
BEGIN
    SELECT n.nspname, c.relname INTO s, t FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = hypertable;
    INSERT INTO ts.calls (call) VALUES (format('add %s', compress_after));
    SELECT job_id INTO id FROM timescaledb_information.jobs
     WHERE proc_name = 'policy_compression' AND hypertable_schema = s AND hypertable_name = t;
    IF FOUND THEN
        IF if_not_exists THEN RETURN -1; END IF;
        RAISE EXCEPTION 'compression policy already exists for hypertable "%"', t USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO timescaledb_information.jobs (proc_name, hypertable_schema, hypertable_name, config)
    VALUES ('policy_compression', s, t, jsonb_build_object('hypertable_id', 1, 'compress_after', compress_after))
    RETURNING job_id INTO id;
    RETURN id;
END $$;
CREATE FUNCTION ts.remove_compression_policy(hypertable regclass, if_exists boolean DEFAULT false)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE s name; t name;
BEGIN
    SELECT n.nspname, c.relname INTO s, t FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = hypertable;
    INSERT INTO ts.calls (call) VALUES ('remove');
    DELETE FROM timescaledb_information.jobs
     WHERE proc_name = 'policy_compression' AND hypertable_schema = s AND hypertable_name = t;
    RETURN FOUND;
END $$;
"#;

/// A database of its own holding the stand-in, dropped (with its sessions) when this goes out
/// of scope.
struct StandIn {
    name: String,
    /// The server URL on this database, without a search path.
    base: String,
}

impl StandIn {
    fn create() -> Self {
        let name = unique_name("ck_ts");
        pg::batch(&server_url(), &format!("CREATE DATABASE {name}")).unwrap();
        let server = server_url();
        let (without_query, query) = server
            .split_once('?')
            .map_or((server.as_str(), None), |(a, q)| (a, Some(q)));
        let (host, _) = without_query.rsplit_once('/').unwrap();
        let base = match query {
            Some(q) => format!("{host}/{name}?{q}"),
            None => format!("{host}/{name}"),
        };
        pg::batch(&base, STAND_IN).unwrap();
        Self { name, base }
    }

    /// The URL with the store's tables in `app`, the stand-in's before the real catalog.
    fn url(&self, userinfo: Option<&str>) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        let base = match userinfo {
            Some(user) => {
                let (scheme, rest) = self.base.split_once("://").unwrap();
                let host = rest.split_once('@').map_or(rest, |(_, host)| host);
                format!("{scheme}://{user}@{host}")
            }
            None => self.base.clone(),
        };
        format!("{base}{sep}options=-c%20search_path%3Dapp%2Cts%2Cpg_catalog")
    }

    async fn calls(&self) -> Vec<String> {
        admin(&self.base)
            .await
            .query("SELECT call FROM ts.calls ORDER BY n", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    async fn jobs(&self) -> Vec<String> {
        admin(&self.base)
            .await
            .query(
                "SELECT config->>'compress_after' FROM timescaledb_information.jobs ORDER BY job_id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = pg::batch(
            &server_url(),
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

async fn admin(url: &str) -> tokio_postgres::Client {
    pg::connect(url).await.unwrap()
}

fn days(compress_after_days: i64) -> PgOptions {
    PgOptions {
        timescale: Timescale { compress_after_days },
        ..PgOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compression_policy_is_set_once_kept_while_equal_and_replaced_once_when_changed() {
    if !blocking(postgres_available).await {
        return;
    }
    let db = blocking(StandIn::create).await;
    let url = db.url(None);
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect_with(&url, days(30)).await?.describe().await })
        })
        .collect();
    for open in opens {
        let described = open.await.unwrap().unwrap();
        assert!(described.starts_with("timescaledb 2.14.2 on postgresql"), "{described}");
        assert!(!described.contains("compression policy"), "{described}");
    }
    assert_eq!(db.calls().await, ["add 2592000000"]);
    assert_eq!(db.jobs().await, ["2592000000"]);

    // Every later command opens the store again: nothing is touched.
    for _ in 0..3 {
        drop(PgStore::connect_with(&url, days(30)).await.unwrap());
    }
    assert_eq!(db.calls().await, ["add 2592000000"]);

    // A changed setting replaces the policy, once.
    for _ in 0..2 {
        drop(PgStore::connect_with(&url, days(7)).await.unwrap());
    }
    assert_eq!(db.calls().await, ["add 2592000000", "remove", "add 604800000"]);
    assert_eq!(db.jobs().await, ["604800000"]);

    // A role that may only read, with other settings, opens and reads; the policy stays.
    let role = format!("{}_reader", db.name);
    admin(&db.base)
        .await
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'reader'; \
             ALTER ROLE {role} SET default_transaction_read_only = on; \
             GRANT USAGE ON SCHEMA app, ts, timescaledb_information TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA app, ts, timescaledb_information TO {role};"
        ))
        .await
        .unwrap();
    let read = async {
        let reader = PgStore::connect_with(&db.url(Some(&format!("{role}:reader"))), days(30)).await?;
        let described = reader.describe().await?;
        let status = reader.series_status().await?;
        Ok::<_, candlekeep_store::StoreError>((described, status))
    }
    .await;
    let _ = admin(&server_url())
        .await
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE); DROP ROLE IF EXISTS {role}",
            db.name
        ))
        .await;
    let (described, status) = read.unwrap();
    assert!(
        described.contains("the compression policy was left as it is"),
        "{described}"
    );
    assert!(status.is_empty());
}
