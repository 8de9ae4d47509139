//! The stored-range index is derived from the candles; rows deleted or restored outside the
//! store make it drift. `verify_stored_ranges` finds every drifted series, says by how much, and
//! rebuilds its index; afterwards the gap ledger is right again. On both backends, with the rows
//! changed through a connection of their own, as a user's SQL would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use candlekeep_core::{Candle, Instrument, Market, SourceId, Timeframe};
use candlekeep_store::{BlockingStore, GapStatus, PgStore, SqliteStore};
use candlekeep_testkit::pg::{TestSchema, server_url};
use support::{H, T0, prov, sim};

/// Runs SQL on the store's database behind its back.
type Outside = Box<dyn FnMut(&str)>;

fn check(store: &mut dyn BlockingStore, mut outside: Outside) {
    let i = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&i).unwrap();
    let bars: Vec<Candle> = sim(100);
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            &bars,
            Some((T0, T0 + 100 * H)),
        )
        .unwrap();
    let now = T0 + 100 * H + 1;
    store.refresh_gaps(now).unwrap();
    assert!(
        store.verify_stored_ranges(false).unwrap().is_empty(),
        "a fresh index is right"
    );

    // Hours 40..50 deleted outside the store: the index still claims them.
    outside(&format!(
        "DELETE FROM candles WHERE open_time >= {} AND open_time < {}",
        T0 + 40 * H,
        T0 + 50 * H
    ));
    assert_eq!(
        store.refresh_gaps(now).unwrap().open,
        0,
        "the drifted index hides the hole"
    );
    let drift = store.verify_stored_ranges(false).unwrap();
    assert_eq!(drift.len(), 1);
    assert_eq!((drift[0].phantom_bars, drift[0].unindexed_bars), (10, 0));
    assert_eq!(drift[0].instrument, i);
    // Only reported: nothing changed yet.
    assert_eq!(store.verify_stored_ranges(false).unwrap().len(), 1);

    let repaired = store.verify_stored_ranges(true).unwrap();
    assert_eq!(repaired.len(), 1);
    assert!(store.verify_stored_ranges(false).unwrap().is_empty());
    let r = store.refresh_gaps(now).unwrap();
    assert_eq!((r.open, r.open_bars), (1, 10));
    let gap = &store.gaps(Some(GapStatus::Open), 0).unwrap()[0];
    assert_eq!(((gap.start_ms - T0) / H, (gap.end_ms - T0) / H), (40, 50));

    // The whole index of the series removed outside: the candles are unindexed.
    outside("DELETE FROM stored_ranges");
    let drift = store.verify_stored_ranges(true).unwrap();
    assert_eq!((drift[0].phantom_bars, drift[0].unindexed_bars), (0, 90));
    assert_eq!(drift[0].actual, vec![(T0, T0 + 40 * H), (T0 + 50 * H, T0 + 100 * H)]);
    assert!(store.verify_stored_ranges(false).unwrap().is_empty());
}

#[test]
fn sqlite_index_drift_is_found_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    check(&mut store, Box::new(move |sql| raw.execute_batch(sql).unwrap()));
}

#[test]
fn postgres_index_drift_is_found_and_repaired() {
    if !support::postgres_available() {
        return;
    }
    let schema = TestSchema::create().unwrap();
    let mut store = PgStore::connect(&schema.url).unwrap();
    let name = schema.name.clone();
    // The blocking client runs on a thread of its own per statement, as the store's does.
    let outside: Outside = Box::new(move |sql| {
        let sql = format!("SET search_path TO {name}; {sql}");
        std::thread::spawn(move || {
            postgres::Client::connect(&server_url(), postgres::NoTls)
                .unwrap()
                .batch_execute(&sql)
                .unwrap()
        })
        .join()
        .unwrap()
    });
    check(&mut store, outside);
}
