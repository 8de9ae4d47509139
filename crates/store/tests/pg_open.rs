//! Opening a PostgreSQL store: a schema that is up to date is only read (no lock, no DDL, no
//! compression policy), so a role that may only read can open it and use every read, and
//! processes starting together never wait on each other's migration lock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::time::Duration;

use candlekeep_core::{Instrument, Market, SourceId, Timeframe};
use candlekeep_store::{BlockingStore, PgStore};
use candlekeep_testkit::pg::{ReadOnlyRole, TestSchema, as_user, server_url};
use support::{H, T0, postgres_available, prov, sim};

/// The advisory lock the migrations run under (see `postgres/schema.rs`).
const MIGRATION_LOCK: i64 = 0x4341_4e44_4c45_0001;

fn admin() -> postgres::Client {
    postgres::Client::connect(&server_url(), postgres::NoTls).unwrap()
}

#[test]
fn a_role_that_may_only_read_opens_the_store_and_reads_everything() {
    if !postgres_available() {
        return;
    }
    let schema = TestSchema::create().unwrap();
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let bars = sim(48);
    {
        let mut writer = PgStore::connect(&schema.url).unwrap();
        let id = writer.instrument_id(&btc).unwrap();
        writer
            .write_page(
                id,
                Timeframe::H1,
                prov(SourceId::BinanceSpotRest, T0 + 49 * H),
                &bars,
                Some((T0, T0 + 48 * H)),
            )
            .unwrap();
    }
    let role = ReadOnlyRole::create(&schema.name);
    let reader_url = as_user(&schema.url, &role.name, "reader");
    {
        let mut reader = PgStore::connect(&reader_url).unwrap();
        let mut writer = PgStore::connect(&schema.url).unwrap();
        assert_eq!(reader.schema_version().unwrap(), writer.schema_version().unwrap());
        assert!(reader.describe().unwrap().contains(&role.name));
        assert_eq!(reader.series_status().unwrap(), writer.series_status().unwrap());
        assert_eq!(reader.candles(&btc, Timeframe::H1, T0, T0 + 48 * H).unwrap(), bars);
        // A long read, which would pack the read cache if this role could write.
        assert_eq!(
            reader
                .candles(&btc, Timeframe::H1, T0 - 5_000 * H, T0 + 5_000 * H)
                .unwrap(),
            bars
        );
        assert_eq!(reader.freshness().unwrap(), writer.freshness().unwrap());
        let id = writer.instrument_id(&btc).unwrap();
        assert_eq!(
            reader.stored_sources(id, Timeframe::H1, T0, T0 + 48 * H).unwrap().len(),
            48
        );
        // And it really may not write: the first write fails with the server's reason.
        let err = reader
            .write_page(id, Timeframe::H1, prov(SourceId::OkxRest, T0), &bars, None)
            .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
    }
    drop(role);
}

#[test]
fn opening_an_up_to_date_schema_takes_no_lock() {
    if !postgres_available() {
        return;
    }
    let schema = TestSchema::create().unwrap();
    drop(PgStore::connect(&schema.url).unwrap());
    // Another process holds the migration lock (a slow migration, say): opening a schema that
    // needs nothing must not wait for it.
    let mut holder = admin();
    let mut tx = holder.transaction().unwrap();
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .unwrap();
    let url = schema.url.clone();
    let (done, opened) = std::sync::mpsc::channel();
    let opener = std::thread::spawn(move || done.send(PgStore::connect(&url).map(drop)));
    let outcome = opened.recv_timeout(Duration::from_secs(10));
    tx.rollback().unwrap();
    opener.join().unwrap().unwrap();
    outcome
        .expect("opening an up-to-date schema waited for the migration lock")
        .unwrap();
}

#[test]
fn processes_opening_a_fresh_schema_together_migrate_it_once() {
    if !postgres_available() {
        return;
    }
    let schema = TestSchema::create().unwrap();
    std::thread::scope(|s| {
        let opens: Vec<_> = (0..6)
            .map(|_| s.spawn(|| PgStore::connect(&schema.url).map(drop)))
            .collect();
        for open in opens {
            open.join().unwrap().unwrap();
        }
    });
    let mut store = PgStore::connect(&schema.url).unwrap();
    let versions: i64 = admin()
        .query_one(&format!("SELECT count(*) FROM {}.schema_version", schema.name), &[])
        .unwrap()
        .get(0);
    assert_eq!(versions, store.schema_version().unwrap());
}
