//! Archive import against stored bars: the path's market and symbol are not overridden by the
//! flags, and an archive bar replaces a stored bar only where the fallback chain ranks the
//! archive above the bar's source (or with `--replace`); otherwise the stored bar stays and
//! the pair is cross-checked. Run on SQLite and, when a server answers, PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{
    path::{Path, PathBuf},
    sync::atomic::AtomicBool,
};

use candlekeep_core::validate::FlagRules;
use candlekeep_core::{Candle, Instrument, Market, Provenance, SourceId, TimeRange, Timeframe};
use candlekeep_engine::{
    NoProgress,
    import::{Chains, ImportOptions, Overwrite, import_files},
};
use candlekeep_store::{CandleRead, CandleWrite, OwnedPage, PgOptions, StoreHandle};
use candlekeep_testkit::{archive::write_zip, pg::TestSchema};

const H: i64 = 3_600_000;
/// 2024-03-01T00:00:00Z: the day the archive files below cover.
const DAY0: i64 = 1_709_251_200_000;

/// A day of bars around `level`.
fn bars(level: f64) -> Vec<Candle> {
    (0..24)
        .map(|i| Candle {
            open_time_ms: DAY0 + i * H,
            open: level,
            high: level + 2.0,
            low: level - 2.0,
            close: level + 1.0,
            volume: Some(10.0),
            quote_volume: Some(10.0 * level),
            trades: Some(100),
        })
        .collect()
}

/// Writes `dir/<layout>/BTCUSDT-1h-2024-03-01.zip` (and its checksum) holding `bars`.
fn archive(dir: &Path, layout: &str, bars: &[Candle]) -> PathBuf {
    let folder = dir.join(layout);
    std::fs::create_dir_all(&folder).unwrap();
    let csv: String = bars
        .iter()
        .map(|c| {
            format!(
                "{},{},{},{},{},10,{},{},100,5,{},0\n",
                c.open_time_ms,
                c.open,
                c.high,
                c.low,
                c.close,
                c.open_time_ms + H - 1,
                10.0 * c.open,
                5.0 * c.open
            )
        })
        .collect();
    write_zip(&folder, "BTCUSDT-1h-2024-03-01", csv.as_bytes()).unwrap()
}

/// The default chain: Binance USD-M, Binance spot, OKX, Bybit.
fn chains() -> Overwrite {
    Overwrite::Chains(Chains {
        per_asset: Default::default(),
        default: vec![
            SourceId::BinanceUsdmRest,
            SourceId::BinanceSpotRest,
            SourceId::OkxRest,
            SourceId::BybitRest,
        ],
    })
}

/// The day the archive files cover, as a range.
const DAY0_RANGE: TimeRange = TimeRange::new(DAY0, DAY0 + 24 * H);

/// Connections the PostgreSQL handle keeps.
const PG_CONNECTIONS: usize = 4;

struct Fixture {
    // Declared first: the handle closes its connections before the schema goes.
    store: StoreHandle,
    _schema: Option<TestSchema>,
}

async fn stores() -> Vec<(&'static str, Fixture)> {
    let mut out = vec![(
        "sqlite",
        Fixture {
            store: StoreHandle::in_memory().unwrap(),
            _schema: None,
        },
    )];
    let schema =
        tokio::task::spawn_blocking(|| candlekeep_testkit::pg::available().then(|| TestSchema::create().unwrap()))
            .await
            .unwrap();
    if let Some(schema) = schema {
        let options = PgOptions {
            pool_size: PG_CONNECTIONS as u32,
            ..PgOptions::default()
        };
        let store = StoreHandle::postgres(&schema.url, options, FlagRules::default())
            .await
            .unwrap();
        out.push((
            "postgres",
            Fixture {
                store,
                _schema: Some(schema),
            },
        ));
    }
    out
}

async fn store_rest(store: &StoreHandle, instrument: &Instrument, source: SourceId, candles: &[Candle]) {
    let id = store.instrument_id(instrument).await.unwrap();
    let prov = Provenance {
        source,
        fetched_at_ms: DAY0 + 30 * H,
    };
    store
        .write_page(id, Timeframe::H1, prov, candles.to_vec(), Some(DAY0_RANGE))
        .await
        .unwrap();
}

async fn stored(store: &StoreHandle, instrument: &Instrument) -> (Vec<Candle>, Vec<SourceId>) {
    let id = store.instrument_id(instrument).await.unwrap();
    let candles = store.candles(instrument, Timeframe::H1, DAY0_RANGE).await.unwrap();
    let sources = store
        .stored_sources(id, Timeframe::H1, DAY0_RANGE)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    (candles, sources)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_never_overrides_the_market_or_symbol_the_path_states() {
    let usdm = Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap();
    for (backend, f) in stores().await {
        let dir = tempfile::tempdir().unwrap();
        store_rest(&f.store, &usdm, SourceId::BinanceUsdmRest, &bars(15_000.0)).await;
        let spot_file = archive(dir.path(), "data/spot/daily/klines/BTCUSDT/1h", &bars(49_000.0));
        let opts = ImportOptions {
            market: Some(Market::UsdM),
            overwrite: Overwrite::Any,
            ..ImportOptions::default()
        };
        let outcomes = import_files(&f.store, &[spot_file], &opts, &NoProgress, &AtomicBool::new(false))
            .await
            .unwrap();
        let error = outcomes[0]
            .error
            .as_deref()
            .expect("a spot file imported as usdm is refused");
        assert!(error.contains("spot") && error.contains("usdm"), "{backend}: {error}");
        assert_eq!(stored(&f.store, &usdm).await.0, bars(15_000.0), "{backend}");

        // The same for the symbol the file name states.
        let usdm_file = archive(dir.path(), "data/futures/um/daily/klines/BTCUSDT/1h", &bars(15_000.5));
        let eth = ImportOptions {
            symbol: Some("ETHUSDT".into()),
            overwrite: Overwrite::Any,
            ..ImportOptions::default()
        };
        let outcomes = import_files(&f.store, &[usdm_file], &eth, &NoProgress, &AtomicBool::new(false))
            .await
            .unwrap();
        let error = outcomes[0]
            .error
            .as_deref()
            .expect("a BTCUSDT file imported as ETHUSDT is refused");
        assert!(
            error.contains("BTCUSDT") && error.contains("ETHUSDT"),
            "{backend}: {error}"
        );
        assert_eq!(stored(&f.store, &usdm).await.0, bars(15_000.0), "{backend}");

        // Where the path does not say, the flag does.
        let bare = archive(dir.path(), "loose", &bars(15_000.5));
        let outcomes = import_files(&f.store, &[bare], &opts, &NoProgress, &AtomicBool::new(false))
            .await
            .unwrap();
        assert_eq!(outcomes[0].error, None, "{backend}");
        assert_eq!(outcomes[0].instrument.as_ref(), Some(&usdm), "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_keeps_an_equal_source_s_bars_replaces_lower_ones_and_replace_overrides() {
    let spot = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    for (backend, f) in stores().await {
        let dir = tempfile::tempdir().unwrap();
        let path = archive(dir.path(), "data/spot/daily/klines/BTCUSDT/1h", &bars(49_010.0));
        let opts = ImportOptions {
            overwrite: chains(),
            ..ImportOptions::default()
        };

        // Binance spot's REST bars rank with the archive: they stay, every pair is compared.
        store_rest(&f.store, &spot, SourceId::BinanceSpotRest, &bars(49_000.0)).await;
        let outcomes = import_files(
            &f.store,
            std::slice::from_ref(&path),
            &opts,
            &NoProgress,
            &AtomicBool::new(false),
        )
        .await
        .unwrap();
        assert_eq!((outcomes[0].written, outcomes[0].cross_checked), (0, 24), "{backend}");
        let (candles, sources) = stored(&f.store, &spot).await;
        assert_eq!(candles, bars(49_000.0), "{backend}");
        assert!(sources.iter().all(|s| *s == SourceId::BinanceSpotRest), "{backend}");
        let checks = f.store.cross_check_summary().await.unwrap();
        assert_eq!(checks.len(), 1, "{backend}");
        assert_eq!(
            (
                checks[0].kept_source.as_str(),
                checks[0].other_source.as_str(),
                checks[0].bars
            ),
            ("binance-spot-rest", "binance-archive", 24),
            "{backend}"
        );

        // `--replace`: the user says the archive is right.
        let any = ImportOptions {
            overwrite: Overwrite::Any,
            ..ImportOptions::default()
        };
        let outcomes = import_files(
            &f.store,
            std::slice::from_ref(&path),
            &any,
            &NoProgress,
            &AtomicBool::new(false),
        )
        .await
        .unwrap();
        assert_eq!(outcomes[0].written, 24, "{backend}");
        let (candles, sources) = stored(&f.store, &spot).await;
        assert_eq!(candles.len(), 24, "{backend}");
        assert_eq!(candles[0].close, 49_011.0, "{backend}");
        assert!(sources.iter().all(|s| *s == SourceId::BinanceArchive), "{backend}");

        // A later backfill page from Binance spot, written as the fallback chain writes it,
        // does not undo what the user replaced either: equal rank, so the pair is compared.
        let lower = [SourceId::OkxRest, SourceId::BybitRest];
        let page = OwnedPage {
            instrument_id: f.store.instrument_id(&spot).await.unwrap(),
            timeframe: Timeframe::H1,
            provenance: Provenance {
                source: SourceId::BinanceSpotRest,
                fetched_at_ms: DAY0 + 40 * H,
            },
            candles: bars(49_000.0),
            covered: Some(DAY0_RANGE),
            outranks: Some(lower.to_vec()),
        };
        let stats = f.store.write_pages(vec![page]).await.unwrap().remove(0);
        assert_eq!((stats.written, stats.cross_checked), (0, 24), "{backend}");
        assert_eq!(stored(&f.store, &spot).await.0[0].close, 49_011.0, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_replaces_bars_of_sources_ranked_below_binance() {
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    for (backend, f) in stores().await {
        let dir = tempfile::tempdir().unwrap();
        store_rest(&f.store, &btc, SourceId::OkxRest, &bars(48_990.0)).await;
        let path = archive(dir.path(), "data/spot/daily/klines/BTCUSDT/1h", &bars(49_010.0));
        let opts = ImportOptions {
            overwrite: chains(),
            ..ImportOptions::default()
        };
        let outcomes = import_files(&f.store, &[path], &opts, &NoProgress, &AtomicBool::new(false))
            .await
            .unwrap();
        assert_eq!(outcomes[0].written, 24, "{backend}");
        let (candles, sources) = stored(&f.store, &btc).await;
        assert_eq!(candles[5].close, 49_011.0, "{backend}");
        assert!(sources.iter().all(|s| *s == SourceId::BinanceArchive), "{backend}");

        // With no chain that ranks Binance, the archive outranks nothing.
        let f2 = stores().await.remove(0).1;
        store_rest(&f2.store, &btc, SourceId::OkxRest, &bars(48_990.0)).await;
        let path = archive(dir.path(), "again/spot", &bars(49_010.0));
        let outcomes = import_files(
            &f2.store,
            &[path],
            &ImportOptions::default(),
            &NoProgress,
            &AtomicBool::new(false),
        )
        .await
        .unwrap();
        assert_eq!(outcomes[0].written, 0, "{backend}");
        assert_eq!(stored(&f2.store, &btc).await.0, bars(48_990.0), "{backend}");
    }
}
