//! What only the SQLite backend has: a file reopened keeps its job log and schema version, and
//! undeclared references are found on demand. The shared contract is in `store_suite.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use candlekeep_core::{Instrument, Market, SourceId, Timeframe};
use candlekeep_store::{BlockingStore, JobRecord, JobStatus, SqliteStore};
mod support;

use support::{prov, sim};

#[test]
fn job_runs_are_logged_and_migrations_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.db");
    {
        let mut s = SqliteStore::open(&path).unwrap();
        let id = s.job_started("backfill", "--from 2020-01-01").unwrap();
        s.job_finished(
            id,
            &JobRecord {
                status: JobStatus::Ok,
                rows_written: 42,
                sources: vec!["binance-spot-rest".into()],
                error: None,
                error_kind: None,
            },
        )
        .unwrap();
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), 10);
    let jobs = s.recent_jobs(5).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].status.as_str(), jobs[0].rows_written), ("ok", 42));
    assert!(jobs[0].ended_at.is_some());
}

#[test]
fn references_hold_after_writes_and_a_dangling_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fk.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let btc = store
        .instrument_id(&Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap())
        .unwrap();
    store
        .write_page(btc, Timeframe::H1, prov(SourceId::BinanceSpotRest, 1), &sim(300), None)
        .unwrap();
    assert_eq!(store.foreign_key_violations().unwrap(), 0);

    // A row written behind the store's back with an instrument id that does not exist.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "foreign_keys", "OFF").unwrap();
    raw.execute(
        "INSERT INTO candles SELECT instrument_id + 1000, timeframe, open_time, open, high, low, close, \
         volume, quote_volume, trades, source_id, fetched_at FROM candles LIMIT 1",
        [],
    )
    .unwrap();
    assert_eq!(store.foreign_key_violations().unwrap(), 1);
}
