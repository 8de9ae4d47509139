//! A whole store copied SQLite → PostgreSQL → SQLite: every table's rows and content hash come
//! through unchanged, the copy keeps working afterwards, and a non-empty destination is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use candlekeep_core::validate::FlagRules;
use candlekeep_core::{
    Asset, Candle, Instrument, Listing, Market, MarketPoint, Provenance, SourceId, Timeframe, Venue,
};
use candlekeep_store::catalog::TABLES;
use candlekeep_store::migrate::{CopyMarker, Unfinished};
use candlekeep_store::migrate::{copy_store, table_digest};
use candlekeep_store::{
    BlockingStore, CandleRead, CandleWrite, GapLedger, JobLog, JobRecord, JobStatus, PageWrite, PgOptions, Replace,
    SqliteStore, StoreHandle, TableCopy,
};
use candlekeep_testkit::{SimMarket, pg};

const H: i64 = 3_600_000;
const T0: i64 = 1_700_000_000_000 / H * H;

fn prov(source: SourceId) -> Provenance {
    Provenance {
        source,
        fetched_at_ms: T0 + 17,
    }
}

/// A store with a row in every table.
fn populated(store: &mut dyn BlockingStore) {
    let btc = Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap();
    let id = store.instrument_id(&btc).unwrap();
    let mut bars: Vec<Candle> = SimMarket::new(3)
        .with_outages(false)
        .candles(Market::UsdM, "BTCUSDT", Timeframe::H1, T0, T0 + 300 * H)
        .iter()
        .map(|c| c.to_candle())
        .collect();
    store
        .save_indicators(&[candlekeep_store::IndicatorValue {
            instrument_id: id,
            timeframe: Timeframe::H1,
            name: "rsi_14".into(),
            bar_ms: T0,
            value: 1.0 / 3.0,
            computed_at_ms: T0 + H,
        }])
        .unwrap();
    bars[50].volume = None; // a venue without volume
    bars[60].high = bars[60].low - 1.0; // quarantined
    bars[70].close *= 1.5; // flagged as a jump
    bars[70].high = bars[70].high.max(bars[70].close);
    let primary = PageWrite {
        instrument_id: id,
        timeframe: Timeframe::H1,
        provenance: prov(SourceId::BinanceUsdmRest),
        candles: &bars[..200],
        covered: Some((T0, T0 + 200 * H)),
        replace: Replace::Outranked(&[SourceId::OkxRest]),
    };
    let fallback = PageWrite {
        provenance: prov(SourceId::OkxRest),
        candles: &bars[190..],
        covered: Some((T0 + 190 * H, T0 + 300 * H)),
        replace: Replace::Outranked(&[]),
        ..primary
    };
    store.write_pages(&[primary, fallback]).unwrap();
    store
        .write_notes(
            id,
            Timeframe::H1,
            SourceId::OkxRest,
            &[(T0 + 400 * H, T0 + 410 * H, "no-trades")],
        )
        .unwrap();
    let point = MarketPoint {
        at_ms: T0 + 123,
        price: 42_000.5,
        market_cap: Some(8.1e11),
        volume_24h: None,
    };
    store.write_points(id, prov(SourceId::CoinGecko), &[point]).unwrap();
    store
        .save_assets(
            &[Asset {
                symbol: "BTC".into(),
                coingecko_id: "bitcoin".into(),
                name: "Bitcoin".into(),
                market_cap_rank: Some(1),
            }],
            T0,
        )
        .unwrap();
    let listing = Listing {
        venue: Venue::Binance,
        market: Market::UsdM,
        ticker: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        listed_at_ms: Some(T0 - 10 * H),
    };
    store
        .refresh_listings(Venue::Binance, Market::UsdM, &[listing], T0)
        .unwrap();
    store.cache_put("coins/list", &[0, 159, 146, 150, 255], T0).unwrap();
    store.refresh_gaps(T0 + 500 * H).unwrap();
    store.refresh_quality(T0, T0 + 500 * H).unwrap();
    store
        .record_health(&candlekeep_store::HealthSample {
            at_ms: T0 + 500 * H,
            cpu_pct: 7.25,
            mem_used_bytes: 1 << 30,
            mem_total_bytes: 8 << 30,
            disk_used_bytes: 20 << 30,
            disk_total_bytes: 100 << 30,
            rss_bytes: 64 << 20,
            freshness_lag_ms: None,
            api_p99_ms: Some(3.5),
            api_requests: 12,
        })
        .unwrap();
    // A timeframe without bars: only its retention horizon is recorded.
    assert_eq!(store.prune_candles(Timeframe::D1, T0).unwrap(), 0);
    let job = store.job_started("backfill", "--from 2023-11-14").unwrap();
    store
        .job_finished(
            job,
            &JobRecord {
                status: JobStatus::Ok,
                rows_written: 299,
                sources: vec!["binance-usdm-rest=200".into()],
                error: None,
                error_kind: None,
            },
        )
        .unwrap();
}

async fn digests(store: &StoreHandle) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for table in TABLES {
        out.push(table_digest(store, table).await.unwrap());
    }
    out
}

/// A file store holding the fixture, shared.
fn populated_file(path: &std::path::Path) -> StoreHandle {
    let mut store = SqliteStore::open(path).unwrap();
    populated(&mut store);
    StoreHandle::sqlite(store).unwrap()
}

fn sqlite_file(path: &std::path::Path) -> StoreHandle {
    StoreHandle::sqlite(SqliteStore::open(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_goes_to_postgres_and_back_unchanged() {
    if !pg::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let original = populated_file(&dir.path().join("a.db"));
    let want = digests(&original).await;
    for (table, (rows, _)) in TABLES.iter().zip(&want) {
        assert!(*rows > 0, "the fixture leaves {} empty", table.name);
    }

    let schema = pg::TestSchema::create().unwrap();
    let options = PgOptions {
        pool_size: 2,
        ..PgOptions::default()
    };
    let server = StoreHandle::postgres(&schema.url, options, FlagRules::default())
        .await
        .unwrap();
    let report = copy_store(&original, &server, "a.db", Unfinished::Refuse, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.len(), TABLES.len());
    assert_eq!(digests(&server).await, want);
    assert_eq!(
        server.content_hash().await.unwrap(),
        original.content_hash().await.unwrap()
    );
    assert_eq!(
        server.series_status().await.unwrap(),
        original.series_status().await.unwrap()
    );
    assert_eq!(
        server.gaps(None, 0).await.unwrap(),
        original.gaps(None, 0).await.unwrap()
    );

    let back = sqlite_file(&dir.path().join("b.db"));
    copy_store(&server, &back, "server", Unfinished::Refuse, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(digests(&back).await, want);

    // A second copy into a store that holds rows is refused and writes nothing.
    let err = copy_store(&original, &server, "a.db", Unfinished::Refuse, &mut |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty database"), "{err}");
    assert_eq!(digests(&server).await, want);

    // The copy keeps working: new ids continue after the copied ones.
    let eth = server
        .instrument_id(&Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap())
        .await
        .unwrap();
    assert!(eth > 1, "{eth}");
    let job = server.job_started("status", "").await.unwrap();
    assert!(job > 1, "{job}");
}

/// A copy killed midway leaves the destination marked as unfinished: it is never taken for a
/// complete store, a rerun says why it refuses and how to restart, and `--restart` (only for a
/// marked copy) empties it and copies again, verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_copy_is_marked_refused_with_a_reason_and_restartable() {
    let dir = tempfile::tempdir().unwrap();
    let original = populated_file(&dir.path().join("a.db"));
    let want = digests(&original).await;
    let dest = sqlite_file(&dir.path().join("b.db"));
    // What a copy killed after its first tables leaves: the marker and some of the rows.
    let marker = CopyMarker {
        source: "sqlite:a.db".into(),
        started_at_ms: T0,
    };
    dest.set_copy_marker(Some(marker.clone())).await.unwrap();
    for table in &TABLES[..3] {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let (read, rows) = tokio::join!(original.read_table(table, tx), async {
            let mut rows = Vec::new();
            while let Some(row) = rx.recv().await {
                rows.push(row);
            }
            rows
        });
        assert_eq!(read.unwrap(), rows.len() as u64);
        dest.append_rows(table, rows).await.unwrap();
    }
    assert_eq!(dest.copy_marker().await.unwrap(), Some(marker));

    let err = copy_store(&original, &dest, "sqlite:a.db", Unfinished::Refuse, &mut |_, _| {})
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("unfinished copy of sqlite:a.db") && msg.contains("--restart"),
        "{msg}"
    );
    // An unfinished copy is no source either.
    let other = sqlite_file(&dir.path().join("c.db"));
    let err = copy_store(&dest, &other, "sqlite:b.db", Unfinished::Refuse, &mut |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unfinished copy"), "{err}");

    copy_store(&original, &dest, "sqlite:a.db", Unfinished::Restart, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(digests(&dest).await, want);
    assert_eq!(
        dest.copy_marker().await.unwrap(),
        None,
        "a verified copy is no longer marked"
    );

    // --restart never empties a store that is not a marked copy.
    let err = copy_store(&original, &dest, "sqlite:a.db", Unfinished::Restart, &mut |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an unfinished copy"), "{err}");
    assert_eq!(digests(&dest).await, want);
}

/// A destination whose appends fail once a table holds some rows (a server gone, a full disk).
#[derive(Clone)]
struct FailingAppends(StoreHandle);

impl TableCopy for FailingAppends {
    async fn read_table(
        &self,
        table: &'static candlekeep_store::TableDef,
        rows: tokio::sync::mpsc::Sender<Vec<candlekeep_store::Value>>,
    ) -> Result<u64, candlekeep_store::StoreError> {
        self.0.read_table(table, rows).await
    }

    async fn append_rows(
        &self,
        table: &'static candlekeep_store::TableDef,
        rows: Vec<Vec<candlekeep_store::Value>>,
    ) -> Result<(), candlekeep_store::StoreError> {
        if table.name == "candles" {
            return Err(candlekeep_store::StoreError::Config("the disk is full".into()));
        }
        self.0.append_rows(table, rows).await
    }

    async fn after_copy(&self) -> Result<(), candlekeep_store::StoreError> {
        self.0.after_copy().await
    }

    async fn copy_marker(&self) -> Result<Option<CopyMarker>, candlekeep_store::StoreError> {
        self.0.copy_marker().await
    }

    async fn set_copy_marker(&self, marker: Option<CopyMarker>) -> Result<(), candlekeep_store::StoreError> {
        self.0.set_copy_marker(marker).await
    }

    async fn empty_for_copy(&self) -> Result<(), candlekeep_store::StoreError> {
        self.0.empty_for_copy().await
    }
}

/// A copy whose destination fails mid-table ends with that error, whatever the size of the
/// table still being read (it used to wait forever for the full channel to drain).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_destination_ends_the_copy_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = SqliteStore::open(&dir.path().join("a.db")).unwrap();
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = source.instrument_id(&btc).unwrap();
    // More rows than the copy's channel and chunk hold.
    let bars: Vec<Candle> = SimMarket::new(5)
        .with_outages(false)
        .candles(Market::Spot, "BTCUSDT", Timeframe::H1, T0 - 60_000 * H, T0)
        .iter()
        .map(|c| c.to_candle())
        .collect();
    assert!(bars.len() > 50_000, "{}", bars.len());
    source
        .write_page(id, Timeframe::H1, prov(SourceId::BinanceArchive), &bars, None)
        .unwrap();
    let source = StoreHandle::sqlite(source).unwrap();
    let dest = FailingAppends(sqlite_file(&dir.path().join("b.db")));
    let mut progress = |_: &str, _: u64| {};
    let copy = copy_store(&source, &dest, "a.db", Unfinished::Refuse, &mut progress);
    let err = tokio::time::timeout(std::time::Duration::from_secs(60), copy)
        .await
        .expect("the copy ended")
        .unwrap_err();
    assert!(err.to_string().contains("the disk is full"), "{err}");
}
