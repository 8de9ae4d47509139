//! The stored-range index is derived from the candles; rows deleted or restored outside the
//! store make it drift. `verify_stored_ranges` finds every drifted series, says by how much, and
//! rebuilds its index; afterwards the gap ledger is right again. On both backends, with the rows
//! changed through a connection of their own, as a user's SQL would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use candlekeep_core::{Candle, Instrument, Market, SourceId, TimeRange, Timeframe};
use candlekeep_store::{CandleWrite, GapLedger, GapStatus};
use candlekeep_testkit::pg::server_url;
use support::{Backend, H, T0, TestStore, blocking, prov, sim};

/// Runs SQL on the store's database behind its back, on a connection of its own.
async fn outside(store: &TestStore, sql: String) {
    if let Some(path) = store.sqlite_path() {
        blocking(move || rusqlite::Connection::open(&path).unwrap().execute_batch(&sql).unwrap()).await;
    } else {
        let sql = format!("SET search_path TO {}; {sql}", store.pg_schema().unwrap());
        let client = candlekeep_testkit::pg::connect(&server_url()).await.unwrap();
        client.batch_execute(&sql).await.unwrap();
    }
}

async fn check(backend: Backend) {
    let store = backend.open().await;
    let i = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    let bars: Vec<Candle> = sim(100);
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            bars,
            Some(TimeRange::new(T0, T0 + 100 * H)),
        )
        .await
        .unwrap();
    let now = T0 + 100 * H + 1;
    store.refresh_gaps(now).await.unwrap();
    assert!(
        store.verify_stored_ranges(false).await.unwrap().is_empty(),
        "a fresh index is right"
    );

    // Hours 40..50 deleted outside the store: the index still claims them.
    outside(
        &store,
        format!(
            "DELETE FROM candles WHERE open_time >= {} AND open_time < {}",
            T0 + 40 * H,
            T0 + 50 * H
        ),
    )
    .await;
    assert_eq!(
        store.refresh_gaps(now).await.unwrap().open,
        0,
        "the drifted index hides the hole"
    );
    let drift = store.verify_stored_ranges(false).await.unwrap();
    assert_eq!(drift.len(), 1);
    assert_eq!((drift[0].phantom_bars, drift[0].unindexed_bars), (10, 0));
    assert_eq!(drift[0].instrument, i);
    // Only reported: nothing changed yet.
    assert_eq!(store.verify_stored_ranges(false).await.unwrap().len(), 1);

    let repaired = store.verify_stored_ranges(true).await.unwrap();
    assert_eq!(repaired.len(), 1);
    assert!(store.verify_stored_ranges(false).await.unwrap().is_empty());
    let r = store.refresh_gaps(now).await.unwrap();
    assert_eq!((r.open, r.open_bars), (1, 10));
    let gap = &store.gaps(Some(GapStatus::Open), 0).await.unwrap()[0];
    assert_eq!(((gap.start_ms - T0) / H, (gap.end_ms - T0) / H), (40, 50));

    // The whole index of the series removed outside: the candles are unindexed.
    outside(&store, "DELETE FROM stored_ranges".to_owned()).await;
    let drift = store.verify_stored_ranges(true).await.unwrap();
    assert_eq!((drift[0].phantom_bars, drift[0].unindexed_bars), (0, 90));
    assert_eq!(drift[0].actual, vec![(T0, T0 + 40 * H), (T0 + 50 * H, T0 + 100 * H)]);
    assert!(store.verify_stored_ranges(false).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_index_drift_is_found_and_repaired() {
    check(Backend::SqliteFile).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_index_drift_is_found_and_repaired() {
    if blocking(support::postgres_available).await {
        check(Backend::Postgres).await;
    }
}
