//! A write transaction the server aborts to break a deadlock (or a serialization failure) is run
//! again, whole: it is never the end of a backfill.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::time::{Duration, Instant};

use candlekeep_core::{Instrument, Market, SourceId, Timeframe};
use candlekeep_store::{BlockingStore, PgStore};
use candlekeep_testkit::pg::TestSchema;
use support::{H, T0, postgres_available, prov, sim};

/// Another session takes the locks of a write in the opposite order (the read cache's table
/// first, then the instrument's row the write holds), as TimescaleDB's compression job can with
/// `COPY candles`: the server aborts the write with `40P01 deadlock detected`, and the write
/// runs again once the other session is done.
#[test]
fn a_write_aborted_by_a_deadlock_runs_again_and_lands_whole() {
    if !postgres_available() {
        return;
    }
    let schema = TestSchema::create().unwrap();
    let mut store = PgStore::connect(&schema.url).unwrap();
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&btc).unwrap();
    let bars = sim(48);

    let mut other = postgres::Client::connect(&schema.url, postgres::NoTls).unwrap();
    // The write's session finds the deadlock (after the default 1 s) long before this one would:
    // the write is the one aborted, every time.
    other.batch_execute("SET deadlock_timeout = '60s'").unwrap();
    let mut tx = other.transaction().unwrap();
    tx.batch_execute("LOCK TABLE candle_blocks IN EXCLUSIVE MODE").unwrap();

    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            store.write_page(
                id,
                Timeframe::H1,
                prov(SourceId::BinanceSpotRest, T0 + 49 * H),
                &bars,
                Some((T0, T0 + 48 * H)),
            )
        });
        // Wait until the write holds the instrument's row and waits for the read cache's table.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: i64 = tx
                .query_one(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'candle_blocks'::regclass",
                    &[],
                )
                .unwrap()
                .get(0);
            if waiting > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the write never reached the read cache");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The cycle: this waits for the write's row lock while the write waits for this table.
        tx.query("SELECT id FROM instruments WHERE id = $1 FOR UPDATE", &[&id])
            .unwrap();
        // Done: the write, run again, may go on.
        tx.commit().unwrap();
        let stats = writer.join().unwrap().expect("a deadlock is retried, not fatal");
        assert_eq!(stats.written, 48);
    });
    assert_eq!(store.candles(&btc, Timeframe::H1, T0, T0 + 48 * H).unwrap(), bars);
    let status = store.series_status().unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].count, 48);
}
