//! A write transaction the server aborts to break a deadlock (or a serialization failure) is run
//! again, whole: it is never the end of a backfill.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::time::{Duration, Instant};

use candlekeep_core::{Instrument, Market, SourceId, TimeRange, Timeframe};
use candlekeep_store::{CandleRead, CandleWrite, PgStore};
use candlekeep_testkit::pg::{self, TestSchema};
use support::{H, T0, blocking, postgres_available, prov, sim};

/// Another session takes the locks of a write in the opposite order (the read cache's table
/// first, then the instrument's row the write holds), as TimescaleDB's compression job can with
/// `COPY candles`: the server aborts the write with `40P01 deadlock detected`, and the write
/// runs again once the other session is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_aborted_by_a_deadlock_runs_again_and_lands_whole() {
    if !blocking(postgres_available).await {
        return;
    }
    let schema = blocking(|| TestSchema::create().unwrap()).await;
    let store = PgStore::connect(&schema.url).await.unwrap();
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&btc).await.unwrap();
    let bars = sim(48);

    let mut other = pg::connect(&schema.url).await.unwrap();
    // The write's session finds the deadlock (after the default 1 s) long before this one would:
    // the write is the one aborted, every time.
    other.batch_execute("SET deadlock_timeout = '60s'").await.unwrap();
    let tx = other.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE candle_blocks IN EXCLUSIVE MODE")
        .await
        .unwrap();

    let writer = tokio::spawn({
        let (store, bars) = (store.clone(), bars.clone());
        async move {
            store
                .write_page(
                    id,
                    Timeframe::H1,
                    prov(SourceId::BinanceSpotRest, T0 + 49 * H),
                    bars,
                    Some(TimeRange::from((T0, T0 + 48 * H))),
                )
                .await
        }
    });
    // Wait until the write holds the instrument's row and waits for the read cache's table.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = tx
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'candle_blocks'::regclass",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the write never reached the read cache");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The cycle: this waits for the write's row lock while the write waits for this table.
    tx.query("SELECT id FROM instruments WHERE id = $1 FOR UPDATE", &[&id])
        .await
        .unwrap();
    // Done: the write, run again, may go on.
    tx.commit().await.unwrap();
    let stats = writer.await.unwrap().expect("a deadlock is retried, not fatal");
    assert_eq!(stats.written, 48);
    assert_eq!(
        store
            .candles(&btc, Timeframe::H1, TimeRange::from((T0, T0 + 48 * H)))
            .await
            .unwrap(),
        bars
    );
    let status = store.series_status().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].count, 48);
}
