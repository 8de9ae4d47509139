//! The fallback chain against simulated Binance, OKX and Bybit: a backfill ends complete, each
//! bar from the best source that had it, the per-source counts match the stored provenance, and
//! a rerun asks nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{collections::BTreeMap, sync::Arc};

use candlekeep_core::{Candle, Instrument, Market, SourceId, TimeRange, Timeframe, time::now_ms};
use candlekeep_engine::{
    JobFailure, NoProgress,
    backfill::{self, Plan, Start, Target},
};
use candlekeep_sources::{
    CandleSource, FailureKind,
    binance::{BinanceConfig, BinanceKlines},
    bybit::{BybitConfig, BybitKlines},
    cryptocompare::{CryptoCompareConfig, CryptoCompareHistory},
    okx::{OkxCandles, OkxConfig},
};
use candlekeep_store::{CandleRead, CandleWrite, GapLedger, StoreHandle};
use candlekeep_testkit::{
    BinanceSim, BybitSim, BybitSimConfig, CryptoCompareSim, CryptoCompareSimConfig, Faults, OkxSim, OkxSimConfig,
    SimConfig, SimMarket, fast_http,
};

const H: i64 = 3_600_000;
const DAY: i64 = 24 * H;
const COINS: [&str; 5] = ["BTC", "ETH", "BNB", "SOL", "XRP"];

struct World {
    spot: BinanceSim,
    usdm: BinanceSim,
    okx: OkxSim,
    bybit: BybitSim,
    cc: CryptoCompareSim,
}

/// Binance USD-M lacks `usdm_hole`; Binance spot is down (every request fails) for the whole
/// test; OKX does not list SOL, and neither OKX nor Bybit list XRP spot (CryptoCompare has it).
async fn world(usdm_hole: (i64, i64)) -> World {
    let generator = SimMarket::default().with_outages(false);
    let mut spot = SimConfig::binance(Market::Spot);
    spot.generator = generator.clone();
    spot.faults.outage = Some((now_ms() - DAY, now_ms() + DAY));
    let mut usdm = SimConfig::binance(Market::UsdM);
    usdm.generator = generator.clone();
    usdm.faults.missing = vec![usdm_hole];
    let mut okx = OkxSimConfig::new(generator.clone());
    okx.view.unlisted = vec!["SOL".into(), "spot:XRP".into()];
    let mut bybit = BybitSimConfig::new(generator.clone());
    bybit.view.unlisted = vec!["spot:XRP".into()];
    World {
        spot: BinanceSim::start(spot).await.unwrap(),
        usdm: BinanceSim::start(usdm).await.unwrap(),
        okx: OkxSim::start(okx).await.unwrap(),
        bybit: BybitSim::start(bybit).await.unwrap(),
        cc: CryptoCompareSim::start(CryptoCompareSimConfig::new(generator))
            .await
            .unwrap(),
    }
}

fn binance(sim: &BinanceSim, market: Market) -> Arc<dyn CandleSource> {
    let mut cfg = BinanceConfig::default_for(market);
    cfg.base_url = sim.base_url();
    Arc::new(BinanceKlines::new(market, &cfg, fast_http(3, (10, 50), None)).unwrap())
}

fn plan(w: &World, from: i64, to: i64) -> Plan {
    let okx: Arc<dyn CandleSource> = Arc::new(
        OkxCandles::new(
            &OkxConfig {
                base_url: w.okx.base_url(),
                ..OkxConfig::default()
            },
            fast_http(3, (10, 50), None),
        )
        .unwrap(),
    );
    let bybit: Arc<dyn CandleSource> = Arc::new(
        BybitKlines::new(
            &BybitConfig {
                base_url: w.bybit.base_url(),
                ..BybitConfig::default()
            },
            fast_http(3, (10, 50), None),
        )
        .unwrap(),
    );
    let cc: Arc<dyn CandleSource> = Arc::new(
        CryptoCompareHistory::new(
            &CryptoCompareConfig {
                base_url: w.cc.base_url(),
                ..CryptoCompareConfig::default()
            },
            fast_http(3, (10, 50), None),
        )
        .unwrap(),
    );
    let mut targets = Vec::new();
    for market in Market::ALL {
        let primary = match market {
            Market::Spot => binance(&w.spot, market),
            Market::UsdM => binance(&w.usdm, market),
        };
        for coin in COINS {
            // CryptoCompare (spot only) is skipped by the engine for USD-M series.
            targets.push(Target {
                instrument: Instrument::new(market, coin, "USDT").unwrap(),
                chain: vec![primary.clone(), okx.clone(), bybit.clone(), cc.clone()],
            });
        }
    }
    Plan {
        targets,
        timeframe: Timeframe::H1,
        start: Start::At(from),
        end_ms: Some(to),
        concurrency: 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_coins_end_complete_each_bar_from_the_best_source_that_had_it() {
    let to = now_ms() / DAY * DAY;
    let from = to - 20 * DAY;
    let hole = (from + 5 * DAY, from + 7 * DAY);
    let w = world(hole).await;
    let store = StoreHandle::in_memory().unwrap();
    let report = backfill::run(&store, &plan(&w, from, to), &NoProgress).await.unwrap();

    let mut expected_by: BTreeMap<SourceId, u64> = BTreeMap::new();
    for market in Market::ALL {
        for coin in COINS {
            let symbol = format!("{coin}USDT");
            let instrument = Instrument::new(market, coin, "USDT").unwrap();
            let mut want = Vec::new();
            let mut t = from;
            while t < to {
                let binance_has = market == Market::UsdM && !(hole.0..hole.1).contains(&t);
                let xrp_spot = coin == "XRP" && market == Market::Spot;
                let okx_has = coin != "SOL" && !xrp_spot;
                let venue_bar = |c: candlekeep_testkit::SimCandle| Candle {
                    trades: None,
                    ..c.to_candle()
                };
                let (source, bar) = if binance_has {
                    let c = w.usdm.generator().candle(market, &symbol, Timeframe::H1, t).unwrap();
                    (SourceId::BinanceUsdmRest, c.to_candle())
                } else if okx_has {
                    (
                        SourceId::OkxRest,
                        venue_bar(w.okx.bar(market, &symbol, Timeframe::H1, t).unwrap()),
                    )
                } else if !xrp_spot {
                    (
                        SourceId::BybitRest,
                        venue_bar(w.bybit.bar(market, &symbol, Timeframe::H1, t).unwrap()),
                    )
                } else {
                    (
                        SourceId::CryptoCompare,
                        venue_bar(w.cc.bar(&symbol, Timeframe::H1, t).unwrap()),
                    )
                };
                *expected_by.entry(source).or_default() += 1;
                want.push((source, bar));
                t += H;
            }
            let stored = store
                .candles(&instrument, Timeframe::H1, TimeRange::new(from, to))
                .await
                .unwrap();
            assert_eq!(stored.len(), want.len(), "{instrument}: complete");
            for (got, (_, bar)) in stored.iter().zip(&want) {
                assert_eq!(got, bar, "{instrument} at {}", got.open_time_ms);
            }
            let id = store.instrument_id(&instrument).await.unwrap();
            let provenance = store
                .stored_sources(id, Timeframe::H1, TimeRange::new(from, to))
                .await
                .unwrap();
            let want_sources: Vec<_> = want.iter().map(|(s, b)| (b.open_time_ms, *s)).collect();
            assert_eq!(
                provenance, want_sources,
                "{instrument}: each bar from the best source that had it"
            );
            let outcome = report.series.iter().find(|s| s.instrument == instrument).unwrap();
            assert_eq!(outcome.error, None, "{instrument}");
        }
    }
    // sources_used equals the stored provenance exactly.
    assert_eq!(report.written_by(), expected_by);
    let status = store.series_status().await.unwrap();
    let mut stored_by: BTreeMap<SourceId, u64> = BTreeMap::new();
    for s in &status {
        for (name, n) in &s.sources {
            *stored_by.entry(name.parse().unwrap()).or_default() += *n as u64;
        }
    }
    assert_eq!(stored_by, expected_by);
    for source in [SourceId::OkxRest, SourceId::BybitRest, SourceId::CryptoCompare] {
        assert!(expected_by[&source] > 0, "{source} filled something");
    }
    // Every splice is measured: the fallback also delivered the primary's bars at both seams of
    // the USD-M hole; they were kept, and compared.
    let checks = store.cross_check_summary().await.unwrap();
    let btc = checks
        .iter()
        .find(|c| c.instrument.to_string() == "usdm:BTCUSDT")
        .expect("cross-checks for usdm:BTCUSDT");
    assert_eq!(
        (btc.kept_source.as_str(), btc.other_source.as_str(), btc.bars),
        ("binance-usdm-rest", "okx-rest", 2)
    );
    assert!(btc.max_abs_close_diff_bps <= 4.5, "{btc:?}");
    assert!((btc.median_volume_ratio.unwrap() - 0.35).abs() < 0.01, "{btc:?}");

    // Binance spot's failure is reported per series, but it is not a series failure.
    let spot_btc = report
        .series
        .iter()
        .find(|s| s.instrument.market == Market::Spot && s.instrument.base == "BTC")
        .unwrap();
    assert_eq!(spot_btc.source_errors[0].0, SourceId::BinanceSpotRest);
    // Kept as the error it was: an outage, told apart from a ban or a refusal.
    assert_eq!(
        spot_btc.source_errors[0].1.kind(),
        JobFailure::Source(FailureKind::Unavailable),
        "{}",
        spot_btc.source_errors[0].1
    );

    // Nothing is asked twice of a venue that answered: a rerun sends USD-M and Bybit nothing.
    // Sources that failed are asked again for their bars: Binance spot (down), and OKX for SOL
    // (one rejected request per SOL series) and XRP spot. (With a refreshed universe the CLI
    // leaves venues that do not list a coin out of its chain.)
    let before = (
        w.usdm.stats().requests,
        w.okx.stats().requests,
        w.bybit.stats().requests,
    );
    let hash = store.content_hash().await.unwrap();
    let again = backfill::run(&store, &plan(&w, from, to), &NoProgress).await.unwrap();
    assert_eq!(again.written(), 0);
    let after = (
        w.usdm.stats().requests,
        w.okx.stats().requests,
        w.bybit.stats().requests,
    );
    assert_eq!(after.0, before.0);
    assert_eq!(after.1, before.1 + 3);
    assert_eq!(after.2, before.2 + 1, "Bybit: only the XRP spot rejection again");
    assert_eq!(store.content_hash().await.unwrap(), hash);
}

fn okx_source(sim: &OkxSim, per_2s: u32) -> Arc<dyn CandleSource> {
    let cfg = OkxConfig {
        base_url: sim.base_url(),
        requests_per_2s: per_2s,
    };
    Arc::new(OkxCandles::new(&cfg, fast_http(8, (10, 50), None)).unwrap())
}

fn bybit_source(sim: &BybitSim, per_5s: u32) -> Arc<dyn CandleSource> {
    let cfg = BybitConfig {
        base_url: sim.base_url(),
        requests_per_5s: per_5s,
    };
    Arc::new(BybitKlines::new(&cfg, fast_http(8, (10, 50), None)).unwrap())
}

/// Enough attempts to ride out the injected fault bursts.
fn single_source_plan(source: Arc<dyn CandleSource>, from: i64, to: i64) -> Plan {
    let targets = ["BTC", "ETH"]
        .iter()
        .flat_map(|coin| {
            Market::ALL.map(|m| Target {
                instrument: Instrument::new(m, coin, "USDT").unwrap(),
                chain: vec![source.clone()],
            })
        })
        .collect();
    Plan {
        targets,
        timeframe: Timeframe::H1,
        start: Start::At(from),
        end_ms: Some(to),
        // One request at a time: the injected fault bursts then meet each series in the same
        // order every run (concurrent series would share the venue's request counter at random
        // and could meet more faults in a row than the attempt limit).
        concurrency: 1,
    }
}

fn faults() -> Faults {
    use candlekeep_testkit::Burst;
    Faults {
        server_errors: Some(Burst { period: 7, len: 2 }),
        storm_429: Some(Burst { period: 11, len: 1 }),
        malformed: Some(Burst { period: 13, len: 1 }),
        truncated: Some(Burst { period: 17, len: 1 }),
        ..Faults::default()
    }
}

async fn hash_of(plan: &Plan) -> String {
    let store = StoreHandle::in_memory().unwrap();
    let report = backfill::run(&store, plan, &NoProgress).await.unwrap();
    assert!(
        report.failures().next().is_none(),
        "{:?}",
        report.failures().collect::<Vec<_>>()
    );
    assert!(report.written() > 0);
    store.content_hash().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_and_bybit_ride_out_the_same_faults_as_binance_within_their_limits() {
    let to = now_ms() / DAY * DAY;
    let from = to - 65 * DAY; // beyond OKX's 1,440 recent bars: history-candles is used too
    let generator = SimMarket::default();

    // OKX: 20 requests per 2 s on /candles, 10 on history-candles.
    let mut clean = OkxSimConfig::new(generator.clone());
    clean.requests_per_2s = 20;
    let okx_clean = OkxSim::start(clean.clone()).await.unwrap();
    let mut faulty = clean;
    faulty.faults = faults();
    let okx_faulty = OkxSim::start(faulty).await.unwrap();
    let want = hash_of(&single_source_plan(okx_source(&okx_clean, 20), from, to)).await;
    let got = hash_of(&single_source_plan(okx_source(&okx_faulty, 20), from, to)).await;
    assert_eq!(got, want, "OKX: faults change nothing");
    for sim in [&okx_clean, &okx_faulty] {
        let stats = sim.stats();
        assert_eq!(stats.rejected_429, 0, "OKX's limit was never hit: {stats:?}");
    }

    // Bybit bans for 10 minutes at the first request over its limit: a tight budget (8 per 5 s
    // against a venue allowing 10) must never be exceeded.
    let mut clean = BybitSimConfig::new(generator);
    clean.requests_per_5s = 10;
    let bybit_clean = BybitSim::start(clean.clone()).await.unwrap();
    let mut faulty = clean;
    faulty.faults = faults();
    let bybit_faulty = BybitSim::start(faulty).await.unwrap();
    let from = to - 120 * DAY; // three windows of 998 bars per series
    let want = hash_of(&single_source_plan(bybit_source(&bybit_clean, 8), from, to)).await;
    let got = hash_of(&single_source_plan(bybit_source(&bybit_faulty, 8), from, to)).await;
    assert_eq!(got, want, "Bybit: faults change nothing");
    for sim in [&bybit_clean, &bybit_faulty] {
        let stats = sim.stats();
        assert_eq!(
            (stats.rejected_429, stats.rejected_418),
            (0, 0),
            "never banned: {stats:?}"
        );
        assert!(stats.requests > 10, "the budget was exercised: {stats:?}");
        assert!(stats.max_window_weight <= 10, "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coingecko_fills_recent_hours_last_with_its_own_ohlc_and_no_volume() {
    use candlekeep_sources::coingecko::{CoinGecko, CoinGeckoConfig, ohlc::CoinGeckoOhlc};
    use candlekeep_testkit::{CoinGeckoSim, CoinGeckoSimConfig};

    let newest = Timeframe::H1.floor(now_ms());
    let (from, to) = (newest - 3 * DAY, newest);
    // Binance spot lacks three recent hours and one old one; CoinGecko reaches back a day.
    let recent = (newest - 6 * H, newest - 3 * H);
    let old = (from + 5 * H, from + 6 * H);
    let generator = SimMarket::default().with_outages(false);
    let mut spot = SimConfig::binance(Market::Spot);
    spot.generator = generator.clone();
    spot.faults.missing = vec![recent, old];
    let spot = BinanceSim::start(spot).await.unwrap();
    let cg_sim = CoinGeckoSim::start(CoinGeckoSimConfig::new(&generator)).await.unwrap();
    let api = CoinGecko::new(
        &CoinGeckoConfig {
            base_url: cg_sim.base_url(),
            ..CoinGeckoConfig::default()
        },
        fast_http(3, (10, 50), None),
    )
    .unwrap();
    let ids = [("BTC".to_owned(), "btc-sim".to_owned())].into();
    let cg: Arc<dyn CandleSource> = Arc::new(CoinGeckoOhlc::new(api, ids));
    let btc = Instrument::new(Market::Spot, "BTC", "USDT").unwrap();
    let plan = Plan {
        targets: vec![Target {
            instrument: btc.clone(),
            chain: vec![binance(&spot, Market::Spot), cg],
        }],
        timeframe: Timeframe::H1,
        start: Start::At(from),
        end_ms: Some(to),
        concurrency: 1,
    };
    let store = StoreHandle::in_memory().unwrap();
    let report = backfill::run(&store, &plan, &NoProgress).await.unwrap();
    let stored = store
        .candles(&btc, Timeframe::H1, TimeRange::new(from, to))
        .await
        .unwrap();
    assert_eq!(
        stored.len() as i64,
        3 * 24 - 1,
        "only the old hour (beyond CoinGecko's day) is missing"
    );
    let filled: Vec<_> = stored.iter().filter(|c| c.volume.is_none()).collect();
    assert_eq!(filled.len(), 3);
    for c in filled {
        assert!((recent.0..recent.1).contains(&c.open_time_ms));
        let truth = generator
            .candle(Market::Spot, "BTCUSDT", Timeframe::H1, c.open_time_ms)
            .unwrap();
        let diff = (c.close / truth.to_candle().close - 1.0).abs();
        assert!(
            diff < 5e-4,
            "CoinGecko's close is within a few bp of the market: {diff}"
        );
        assert!(c.high >= c.open.max(c.close) && c.low <= c.open.min(c.close));
    }
    let outcome = &report.series[0];
    assert_eq!(outcome.written_by.get(&SourceId::CoinGecko), Some(&3));
    // Its chart came along and is kept as what it is: hourly points off the hour, with the
    // trailing 24-hour volume, apart from the candles.
    let id = store.instrument_id(&btc).await.unwrap();
    let points = store.points(id, TimeRange::new(to - 2 * DAY, to + DAY)).await.unwrap();
    assert!(points.len() >= 47, "{} points", points.len());
    assert!(
        points
            .iter()
            .all(|p| p.at_ms % H != 0 && p.volume_24h.is_some_and(|v| v > 0.0))
    );
    assert_eq!(
        outcome.unfetched, 0,
        "the old hour was answered for (CoinGecko has no such bars)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cryptocompare_rides_out_the_same_faults_with_identical_content() {
    let to = now_ms() / DAY * DAY;
    let from = to - 200 * DAY; // three windows of 2,000 hours per series
    let clean = CryptoCompareSimConfig::new(SimMarket::default());
    let cc_clean = CryptoCompareSim::start(clean.clone()).await.unwrap();
    let mut faulty = clean;
    faulty.faults = faults();
    let cc_faulty = CryptoCompareSim::start(faulty).await.unwrap();
    let plan = |sim: &CryptoCompareSim| {
        let cfg = CryptoCompareConfig {
            base_url: sim.base_url(),
            ..CryptoCompareConfig::default()
        };
        let source: Arc<dyn CandleSource> =
            Arc::new(CryptoCompareHistory::new(&cfg, fast_http(8, (10, 50), None)).unwrap());
        let mut p = single_source_plan(source, from, to);
        p.targets.retain(|t| t.instrument.market == Market::Spot);
        p
    };
    let want = hash_of(&plan(&cc_clean)).await;
    let got = hash_of(&plan(&cc_faulty)).await;
    assert_eq!(got, want, "CryptoCompare: faults change nothing");
    assert!(
        cc_faulty.stats().requests > cc_clean.stats().requests,
        "faults were injected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cryptocompare_says_about_missing_hours_names_the_gap() {
    let to = now_ms() / DAY * DAY;
    let from = to - 400 * DAY; // long enough to meet the simulated maintenance outages
    let sim = CryptoCompareSim::start(CryptoCompareSimConfig::new(SimMarket::default()))
        .await
        .unwrap();
    let cfg = CryptoCompareConfig {
        base_url: sim.base_url(),
        ..CryptoCompareConfig::default()
    };
    let source: Arc<dyn CandleSource> =
        Arc::new(CryptoCompareHistory::new(&cfg, fast_http(3, (10, 50), None)).unwrap());
    let mut plan = single_source_plan(source, from, to);
    plan.targets.retain(|t| t.instrument.market == Market::Spot);
    let store = StoreHandle::in_memory().unwrap();
    backfill::run(&store, &plan, &NoProgress).await.unwrap();
    store.refresh_gaps(to).await.unwrap();
    let gaps = store.gaps(None, 0).await.unwrap();
    assert!(!gaps.is_empty(), "the simulated outages leave gaps");
    assert!(
        gaps.iter().all(|g| g.cause == candlekeep_core::GapCause::NoTrades),
        "CryptoCompare's flat, volume-less rows say nothing traded: {gaps:?}"
    );
}
