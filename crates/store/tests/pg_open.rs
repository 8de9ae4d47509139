//! Opening a PostgreSQL store: a schema that is up to date is only read (no lock, no DDL, no
//! compression policy), so a role that may only read can open it and use every read, and
//! processes starting together never wait on each other's migration lock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::time::Duration;

use candlekeep_core::{Instrument, Market, SourceId, TimeRange, Timeframe};
use candlekeep_store::{CandleRead, CandleWrite, PgStore};
use candlekeep_testkit::pg::{self, ReadOnlyRole, TestSchema, as_user, server_url};
use support::{H, T0, blocking, postgres_available, prov, sim};

/// The advisory lock the migrations run under (see `postgres/schema.rs`).
const MIGRATION_LOCK: i64 = 0x4341_4e44_4c45_0001;

async fn admin() -> tokio_postgres::Client {
    pg::connect(&server_url()).await.unwrap()
}

fn range(from: i64, to: i64) -> TimeRange {
    TimeRange::from((from, to))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_only_read_opens_the_store_and_reads_everything() {
    if !blocking(postgres_available).await {
        return;
    }
    let schema = blocking(|| TestSchema::create().unwrap()).await;
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let bars = sim(48);
    {
        let writer = PgStore::connect(&schema.url).await.unwrap();
        let id = writer.instrument_id(&btc).await.unwrap();
        writer
            .write_page(
                id,
                Timeframe::H1,
                prov(SourceId::BinanceSpotRest, T0 + 49 * H),
                bars.clone(),
                Some(range(T0, T0 + 48 * H)),
            )
            .await
            .unwrap();
    }
    let name = schema.name.clone();
    let role = blocking(move || ReadOnlyRole::create(&name)).await;
    let reader_url = as_user(&schema.url, &role.name, "reader");
    {
        let reader = PgStore::connect(&reader_url).await.unwrap();
        let writer = PgStore::connect(&schema.url).await.unwrap();
        assert_eq!(
            reader.schema_version().await.unwrap(),
            writer.schema_version().await.unwrap()
        );
        assert!(reader.describe().await.unwrap().contains(&role.name));
        assert_eq!(
            reader.series_status().await.unwrap(),
            writer.series_status().await.unwrap()
        );
        assert_eq!(
            reader
                .candles(&btc, Timeframe::H1, range(T0, T0 + 48 * H))
                .await
                .unwrap(),
            bars
        );
        // A long read, which would pack the read cache if this role could write.
        assert_eq!(
            reader
                .candles(&btc, Timeframe::H1, range(T0 - 5_000 * H, T0 + 5_000 * H))
                .await
                .unwrap(),
            bars
        );
        assert_eq!(reader.freshness().await.unwrap(), writer.freshness().await.unwrap());
        let id = writer.instrument_id(&btc).await.unwrap();
        assert_eq!(
            reader
                .stored_sources(id, Timeframe::H1, range(T0, T0 + 48 * H))
                .await
                .unwrap()
                .len(),
            48
        );
        // And it really may not write: the first write fails with the server's reason.
        let err = reader
            .write_page(id, Timeframe::H1, prov(SourceId::OkxRest, T0), bars.clone(), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
    }
    blocking(move || drop(role)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_an_up_to_date_schema_takes_no_lock() {
    if !blocking(postgres_available).await {
        return;
    }
    let schema = blocking(|| TestSchema::create().unwrap()).await;
    drop(PgStore::connect(&schema.url).await.unwrap());
    // Another process holds the migration lock (a slow migration, say): opening a schema that
    // needs nothing must not wait for it.
    let mut holder = admin().await;
    let tx = holder.transaction().await.unwrap();
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .unwrap();
    let url = schema.url.clone();
    let opener = tokio::spawn(async move { PgStore::connect(&url).await.map(drop) });
    let outcome = tokio::time::timeout(Duration::from_secs(10), opener).await;
    tx.rollback().await.unwrap();
    outcome
        .expect("opening an up-to-date schema waited for the migration lock")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_opening_a_fresh_schema_together_migrate_it_once() {
    if !blocking(postgres_available).await {
        return;
    }
    let schema = blocking(|| TestSchema::create().unwrap()).await;
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = schema.url.clone();
            tokio::spawn(async move { PgStore::connect(&url).await.map(drop) })
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
    let store = PgStore::connect(&schema.url).await.unwrap();
    let versions: i64 = admin()
        .await
        .query_one(&format!("SELECT count(*) FROM {}.schema_version", schema.name), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, store.schema_version().await.unwrap());
}
